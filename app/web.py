"""`vigil web`: the same Textual console in a browser (textual-serve), for analysts who reach the jump host only
through a tunnel. Each browser session runs its own `vigil run` (or `vigil demo`) process.

textual-serve itself has no authentication, and a WebSocket is not bound by the browser's same-origin rules, so
any local user or any web page the analyst visits could otherwise drive the console. Guards, in order:
loopback unless a host is given; a token (0600 file, in the URL printed at start) that sets a SameSite=Strict,
HttpOnly cookie; the console's WebSocket needs that cookie and an Origin equal to the Host it was asked on (a
page from another site, or a DNS-rebound name without the cookie, is refused).
"""

from __future__ import annotations

import argparse
import hmac
import shlex
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

COOKIE = "vigil_web"
TEMPLATES = Path(__file__).resolve().parent / "web_templates"


def console_command(args: argparse.Namespace) -> str:
    """The shell command textual-serve runs per browser session (quoted: paths may hold spaces)."""
    argv = [sys.executable, "-m", "app", "demo" if args.demo else "run"]
    if args.config:
        argv += ["--config", args.config]
    if args.db:
        argv += ["--db", args.db]
    if not args.demo:
        for path in args.watch:
            argv += ["--watch", path]
        for url in args.listen:
            argv += ["--listen", url]
        if args.read_only:
            argv.append("--read-only")
    return shlex.join(argv)


def make_server(command: str, host: str, port: int, token: str) -> Any:
    from aiohttp import web
    from textual_serve.server import Server

    Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

    class GuardedServer(Server):
        async def _make_app(self) -> web.Application:
            app = await super()._make_app()
            app.middlewares.append(guard)
            return app

    @web.middleware
    async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
        path = request.path
        if path.startswith("/static/"):
            return await handler(request)  # textual-serve's own JS, CSS and fonts
        cookie_ok = hmac.compare_digest(request.cookies.get(COOKIE, ""), token)
        if path == "/":
            given = request.query.get("token", "")
            if given and hmac.compare_digest(given, token):
                rest = [(k, v) for k, v in request.query.items() if k != "token"]
                target = "/" + ("?" + urlencode(rest) if rest else "")
                response = web.HTTPFound(target)  # the token leaves the address bar and the history
                response.set_cookie(COOKIE, token, httponly=True, samesite="Strict", path="/")
                return response
            if not cookie_ok:
                return web.Response(status=401, text="vigil web: open the URL with the token that `vigil web` "
                                                     "printed (the token is in $XDG_DATA_HOME/vigil/web-token)\n")
            # The page builds its WebSocket URL from public_url: use the Host this browser asked for, so a
            # tunnel's local port works (one event loop: no request interleaves before the page is rendered).
            server.public_url = f"{request.scheme}://{request.host}"
            return await handler(request)
        if not cookie_ok:
            return web.Response(status=401, text="vigil web: no session cookie\n")
        if path == "/ws":
            origin = request.headers.get("Origin", "")
            if origin != f"{request.scheme}://{request.host}":
                return web.Response(status=403, text="vigil web: cross-origin WebSocket refused\n")
        return await handler(request)

    server = GuardedServer(command, host=host, port=port, title="Vigil", templates_path=str(TEMPLATES))
    return server


def cmd_web(args: argparse.Namespace) -> int:
    from app.api.address import ApiAddressError, parse_api_address
    from app.api.token import TokenFileError, default_token_path, load_or_create_token

    try:
        address = parse_api_address(f"{args.host}:{args.port}" if ":" not in args.host else f"[{args.host}]:"
                                    f"{args.port}")
    except ApiAddressError as exc:
        print(f"vigil web: {exc}".replace("API address", "address"), file=sys.stderr)
        return 2
    path = default_token_path("web-token")
    try:
        token, _ = load_or_create_token(path)
    except TokenFileError as exc:
        print(f"vigil web: {str(exc).replace('API token', 'web token')}", file=sys.stderr)
        return 1
    import socket

    family = socket.AF_INET6 if ":" in address.host else socket.AF_INET
    with socket.socket(family) as probe:  # a taken port is one clear line, not an aiohttp traceback
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((address.host, address.port))
        except OSError as exc:
            print(f"vigil web: cannot serve on {address.url()}: {exc.strerror or exc}", file=sys.stderr)
            return 1
    if address.exposed:
        print(f"vigil web: WARNING: {address.url()} is reachable from other machines over plain HTTP; prefer "
              "the loopback default and an SSH tunnel", file=sys.stderr)
    print(f"vigil web: open {address.url()}/?token={token}  (through a tunnel: ssh -L {address.port}:127.0.0.1:"
          f"{address.port} this-host); each browser session runs its own console", file=sys.stderr, flush=True)
    server = make_server(console_command(args), address.host, address.port, token)
    server.serve()
    return 0


def register(sub: Any, add_common: Callable[..., None]) -> None:
    p = sub.add_parser("web", help="serve the console in a browser (textual-serve) on loopback, behind a token")
    add_common(p)
    p.add_argument("--port", type=int, default=8566, help="port (default 8566)")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: reach it by SSH tunnel)")
    p.add_argument("--demo", action="store_true", help="serve `vigil demo` instead of `vigil run`")
    p.add_argument("--watch", action="append", default=[], metavar="PATH|GLOB|DIR", help="as for vigil run")
    p.add_argument("--listen", action="append", default=[], metavar="URL", help="as for vigil run")
    p.add_argument("--read-only", action="store_true", help="as for vigil run")
    p.set_defaults(handler=cmd_web)
