"""Serving the web parts with uvicorn: in the foreground (`intake web`), or from a thread
beside another channel (`make run`). Access logs are off: a resume link in a URL is a
session token."""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable

import uvicorn

from bot.wiring import WebServer


def announce(web: list[WebServer]) -> None:
    for server in web:
        where = server.address
        if "chat" in server.parts:
            print(f"trial-intake: web chat at {where}", file=sys.stderr)
        if "console" in server.parts:
            print(f"trial-intake: coordinator console at {where}coordinator/", file=sys.stderr)


def _servers(web: list[WebServer], log_level: str) -> list[uvicorn.Server]:
    # uvicorn's own proxy headers are off: it would believe X-Forwarded-For from loopback
    # whatever is configured. The app's guard reads them from INTAKE_WEB_TRUSTED_PROXIES only.
    return [
        uvicorn.Server(
            uvicorn.Config(
                s.app, host=s.host, port=s.port, access_log=False, log_level=log_level, proxy_headers=False
            )
        )
        for s in web
    ]


async def _serve_all(servers: list[uvicorn.Server]) -> None:
    """Serve them all in one event loop; when one stops (a signal, a port in use), all stop."""
    tasks = [asyncio.create_task(server.serve()) for server in servers]
    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    for server in servers:
        server.should_exit = True
    await asyncio.gather(*tasks, return_exceptions=True)


def serve(web: list[WebServer]) -> None:
    """In the foreground, until interrupted."""
    announce(web)
    asyncio.run(_serve_all(_servers(web, "warning")))


def serve_in_background(web: list[WebServer]) -> Callable[[], None]:
    """From a thread beside another channel; a busy port costs only the web. Returns its stop."""
    servers = _servers(web, "critical")

    def run() -> None:
        with contextlib.suppress(SystemExit):  # uvicorn's answer to a port in use
            asyncio.run(_serve_all(servers))
        for server, part in zip(servers, web, strict=True):
            if not server.started:
                print(
                    f"note: the {part.name} could not listen on port {part.port} (in use?)", file=sys.stderr
                )

    thread = threading.Thread(target=run, daemon=True, name="web")
    thread.start()
    announce(web)

    def stop() -> None:
        for server in servers:
            server.should_exit = True
        thread.join(timeout=10)

    return stop
