"""The API server inside the engine process: uvicorn on its own thread, on a socket bound before it starts (so
a taken port fails `vigil run` at once, in one line), stopped with the engine. A second small thread turns
analyst status changes (console, CLI) into stream events while anyone is listening.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from app.api.address import ApiAddress, parse_api_address
from app.api.routes import ApiContext, build_app
from app.api.stream import AlertStream
from app.api.token import default_token_path, load_or_create_token
from app.config import ApiConfig
from detectors.alerts import AlertSummary

log = logging.getLogger(__name__)
STATUS_POLL_S = 1.0


class ApiStartError(Exception):
    """The API could not start (address in use, unsafe token file); the message says what to change."""


class ApiServer:
    def __init__(self, config: ApiConfig, *, store: Any, status: Callable[[], Any]) -> None:
        self.config = config
        self.address: ApiAddress = parse_api_address(config.listen)
        self.token_path = Path(config.token_file).expanduser() if config.token_file else default_token_path()
        self.stream = AlertStream(config.stream_queue)
        self.token_created = False
        self.port = 0
        self._store = store
        self._status = status
        self._server: Any = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    @property
    def url(self) -> str:
        return self.address.url(self.port)

    def start(self) -> ApiServer:
        import uvicorn

        from app.api.token import TokenFileError

        try:
            token, self.token_created = load_or_create_token(self.token_path)
        except TokenFileError as exc:
            raise ApiStartError(str(exc)) from None
        sock = self._bind()
        mark = self._status_mark()
        app = build_app(ApiContext(self._store, self._status, self.stream, token, self.config))
        # log_config=None: uvicorn must not reconfigure the process's logging (the console logs to a file).
        cfg = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none",
                             server_header=False, timeout_graceful_shutdown=2, log_level="warning")
        self._server = uvicorn.Server(cfg)
        self._thread = threading.Thread(target=self._serve, args=(sock,), name="vigil-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 30
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self._server.should_exit = True
                sock.close()
                raise ApiStartError(f"the API on {self.url} did not start (see the log)")
            time.sleep(0.01)
        if self.address.exposed:
            log.warning("the API listens on %s, reachable from other machines; it speaks plain HTTP, so the token "
                        "crosses the network in clear: put it behind a tunnel or TLS proxy", self.url)
        self._watcher = threading.Thread(target=self._watch_status, args=(mark,), name="vigil-api-status",
                                         daemon=True)
        self._watcher.start()
        return self

    def _bind(self) -> socket.socket:
        family = socket.AF_INET6 if ":" in self.address.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((self.address.host, self.address.port))
            sock.listen(128)
        except OSError as exc:
            sock.close()
            raise ApiStartError(f"cannot serve the API on {self.address.url()}: {exc.strerror or exc}") from None
        self.port = int(sock.getsockname()[1])
        sock.set_inheritable(False)
        return sock

    def _serve(self, sock: socket.socket) -> None:
        try:
            self._server.run(sockets=[sock])
        except BaseException:  # SystemExit from a failed start included: the engine must keep running
            log.exception("the API server stopped")
        finally:
            sock.close()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self.stream.close()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout / 2)
            if self._thread.is_alive() and self._server is not None:
                self._server.force_exit = True
                self._thread.join(timeout / 2)
        if self._watcher is not None:
            self._watcher.join(timeout=5)

    def _status_mark(self) -> datetime:
        cur = self._store.cursor()
        try:
            row = cur.execute("SELECT max(status_at) FROM alerts").fetchone()
        finally:
            cur.close()
        return row[0] if row and row[0] is not None else datetime.fromtimestamp(0).astimezone()

    def _watch_status(self, since: datetime) -> None:
        """Status changes do not pass through the scorer: read them back, once a second."""
        cols = ", ".join(f'"{c}"' for c in AlertSummary.COLUMNS)
        while not self._stop.wait(STATUS_POLL_S):
            try:
                if not self.stream.clients:  # keep the mark current, so a new client gets what follows
                    since = self._status_mark()
                    continue
                cur = self._store.cursor()
                try:
                    rows = cur.execute(f"SELECT {cols} FROM alerts WHERE status_at > ? ORDER BY status_at",
                                       [since]).fetchall()
                finally:
                    cur.close()
            except Exception as exc:  # the store is closing or busy: try again next tick
                log.debug("status watch: %s", exc)
                continue
            if rows:
                summaries = [AlertSummary.from_record(r) for r in rows]
                since = max(s.status_at for s in summaries if s.status_at is not None)
                self.stream.on_status_changes(summaries)
