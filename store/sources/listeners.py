"""Builds the right syslog listener for a `--listen` URL (udp://, tcp://, tls://): the one entry point the
engine and the CLI use, so they never need to know which class serves which scheme.
"""

from __future__ import annotations

from collections.abc import Mapping

from .net import ListenerBindError, ListenerConfig, ListenerConfigError, ListenerError, parse_listen_url
from .syslog_tcp import SyslogTcpListener
from .syslog_udp import SyslogUdpListener

__all__ = [
    "ListenerBindError", "ListenerConfig", "ListenerConfigError", "ListenerError", "open_listener",
    "parse_listen_url",
]


def open_listener(url: str | ListenerConfig, defaults: Mapping[str, object] | None = None,
                  **overrides: object) -> SyslogUdpListener | SyslogTcpListener:
    """A listener Source for `url`, not yet bound: `start(submit)` binds (ListenerBindError if it cannot).
    Bad URLs/options raise ListenerConfigError here, before anything starts."""
    cfg = url if isinstance(url, ListenerConfig) else parse_listen_url(url, defaults, **overrides)
    if cfg.scheme == "udp":
        return SyslogUdpListener(cfg)
    return SyslogTcpListener(cfg)
