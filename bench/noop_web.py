"""The baseline of `bench.web`: a Starlette app that does nothing but what the chat's pages look like.

    .venv/bin/python -m bench.noop_web PORT

The same patients drive it as drive `intake web`: post an answer, follow the redirect, read the
next page. It keeps where each patient stands in a cookie (no database, no dialog), asks the
likely candidate's questions in `bench.engine.ANSWERS` order and ends each screening with a
reference; served by uvicorn as `intake web` is. What it cannot answer faster than is the cost
of HTTP, Starlette and the client on this machine.
"""

from __future__ import annotations

import sys
from html import escape

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from bench.engine import ANSWERS

QUESTIONS = [asks for asks in ANSWERS if asks != "_confirm"]
RESTART = -1  # the restart menu is open


def _step(request: Request) -> int:
    try:
        return int(request.cookies.get("step", "0"))
    except ValueError:
        return 0


async def page(request: Request) -> Response:
    step = _step(request)
    if step == RESTART:
        asks = "_restart"
    elif step < len(QUESTIONS):
        asks = QUESTIONS[step]
    else:
        asks = None
    said = (
        f'<div class="message" data-asks="{escape(asks)}">Question</div>' if asks else "Your reference is 0"
    )
    html = (
        f'<!doctype html><html><body>{said}<form method="post" action="/say">'
        f'<input type="hidden" name="csrf" value="token"><input type="hidden" name="prompt" value="1.{step}">'
        '<input name="text"></form></body></html>'
    )
    return HTMLResponse(html)


async def say(request: Request) -> Response:
    text = (await request.form()).get("text")
    step = _step(request)
    if text == "/restart":
        step = RESTART
    elif step == RESTART:
        step = 2  # the consents are carried over
    else:
        step += 1
    response = RedirectResponse("/", status_code=303)
    response.set_cookie("step", str(step), httponly=True, samesite="lax")
    return response


app = Starlette(routes=[Route("/", page, methods=["GET"]), Route("/say", say, methods=["POST"])])


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=False, log_level="warning")
