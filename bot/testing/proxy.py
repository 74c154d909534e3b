"""A round-robin load balancer on loopback, for tests and benches of several instances.

Each new connection goes to the next backend in turn; a backend that refuses the connection
(it has died) is skipped for the next, as nginx's `proxy_next_upstream error` does. A request
in flight when its backend dies loses its connection, as it would behind nginx: the client
sees an error and tries again. Clients that want each request balanced open a connection per
request (no keep-alive).
"""

from __future__ import annotations

import asyncio
import contextlib
from types import TracebackType


class RoundRobin:
    def __init__(self, backends: list[int]) -> None:
        self.backends = backends  # ports on 127.0.0.1
        self.port = 0
        self.connections: dict[int, int] = {}  # how many each backend (by port) was given
        self._next = 0
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> RoundRobin:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2):
                    await self._server.wait_closed()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        upstream = None
        for _ in self.backends:
            index = self._next % len(self.backends)
            self._next += 1
            try:
                upstream = await asyncio.open_connection("127.0.0.1", self.backends[index])
            except OSError:
                continue
            self.connections[self.backends[index]] = self.connections.get(self.backends[index], 0) + 1
            break
        if upstream is None:
            client_writer.close()
            return
        reader, writer = upstream
        with contextlib.suppress(asyncio.CancelledError):  # the proxy closing, in the middle
            await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(Exception):
            writer.close()
