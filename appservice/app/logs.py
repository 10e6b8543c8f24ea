"""structlog setup: console for humans, JSON in production; secrets never leave the process.

Every log line passes through `redact_secrets`, which blanks any value whose key looks like a
credential and any string that contains a token registered with `register_secret`. That way a
careless `log.info("x", url=url_with_token)` cannot leak the as_token.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

_SECRET_KEYS = re.compile(r"(token|secret|password|authorization|access_token)", re.I)
_registered: set[str] = set()


def register_secret(value: str | None) -> None:
    """Remember a secret value so that it is masked wherever it appears in a log line."""
    if value and len(value) >= 8:
        _registered.add(value)


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        for secret in _registered:
            if secret in value:
                value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: "***" if _SECRET_KEYS.search(str(k)) else _mask(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_mask(v) for v in value)
    return value


def redact_secrets(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event_dict):
        if _SECRET_KEYS.search(key):
            event_dict[key] = "***"
        else:
            event_dict[key] = _mask(event_dict[key])
    return event_dict


def configure(fmt: str = "console", level: str = "info") -> None:
    """Configure structlog (and route stdlib logging, e.g. aiohttp's, through the same level)."""
    lvl = getattr(logging, level.upper(), logging.INFO)
    logging.basicConfig(level=lvl, stream=sys.stderr, format="%(message)s")
    # nio is chatty at INFO (every sync); keep its warnings only.
    logging.getLogger("nio").setLevel(max(lvl, logging.WARNING))
    logging.getLogger("aiohttp.access").setLevel(max(lvl, logging.WARNING))
    renderer: Any = (
        structlog.processors.JSONRenderer(ensure_ascii=False)
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            redact_secrets,
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(lvl),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
