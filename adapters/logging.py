"""Structured logging: one JSON line per event, for structlog and stdlib loggers (temporalio, uvicorn)
alike, with no mainland mobile number ever written out.

    from adapters.logging import configure_logging
    configure_logging()                      # JSON lines on stderr, INFO
    configure_logging("DEBUG", json=False)   # human-readable, for a terminal

Every line has `timestamp` (ISO 8601, UTC), `level`, `event`, the logger name and whatever was bound
with structlog.contextvars (e.g. the API's request_id). Phone numbers are masked in every string value,
as a last line of defence: code should not log personal data in the first place.
"""

import logging
import re
import sys
from collections.abc import Mapping
from typing import Any, TextIO

import structlog
from structlog.typing import EventDict, WrappedLogger

from aftersales.privacy import contains_phone_number, mask_phone, mask_phone_numbers_in

__all__ = ["configure_logging", "mask_phone", "mask_phone_numbers", "mask_phone_numbers_in"]

_MOBILE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")  # an int that is a mobile number

# stdlib loggers that libraries give handlers of their own (uvicorn does, at start-up): they are made
# to propagate to the root logger, so their records get the same JSON formatting.
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "temporalio", "alembic", "sqlalchemy")


def _mask(value: Any) -> Any:
    if isinstance(value, str):
        return mask_phone_numbers_in(value)
    if isinstance(value, bool) or value is None or isinstance(value, float):
        return value
    if isinstance(value, int):  # a phone number held as an int is a mistake, and is masked too
        return mask_phone(str(value)) if _MOBILE.fullmatch(str(value)) else value
    if isinstance(value, Mapping):
        return {k: _mask(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask(v) for v in value]
    if type(value) is tuple:
        return tuple(_mask(v) for v in value)
    text = repr(value)  # what the JSON renderer would write for any other object
    return mask_phone_numbers_in(text) if contains_phone_number(text) else value


def mask_phone_numbers(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    """structlog processor: masks mobile-number-like substrings in every value of the event dict
    (nested dicts, lists and objects' reprs too). It runs after exceptions are formatted, so
    tracebacks are masked as well."""
    for key, value in list(event_dict.items()):
        event_dict[key] = _mask(value)
    return event_dict


def _drop_color_message(_logger: WrappedLogger, _method: str, event_dict: EventDict) -> EventDict:
    event_dict.pop("color_message", None)  # uvicorn's ANSI-coloured copy of the message
    return event_dict


def _shared_processors() -> list:
    return [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        structlog.processors.StackInfoRenderer(),
    ]


def configure_logging(level: str | int = "INFO", json: bool = True, stream: TextIO | None = None) -> None:
    """Sets up structlog and the stdlib root logger; safe to call more than once (the last call wins)."""
    if isinstance(level, str):
        level = logging.getLevelName(level.upper())
        if not isinstance(level, int):
            level = logging.INFO
    shared = _shared_processors()
    renderer = (structlog.processors.JSONRenderer(ensure_ascii=False) if json
                else structlog.dev.ConsoleRenderer(colors=False))

    structlog.configure(
        processors=[structlog.stdlib.filter_by_level, *shared,
                    structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,  # a later configure_logging() call still applies everywhere
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        # records from stdlib loggers (temporalio, uvicorn, alembic ...) get the same fields first
        foreign_pre_chain=[*shared, structlog.stdlib.ExtraAdder(), _drop_color_message],
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            mask_phone_numbers,
            renderer,
        ],
    )
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(formatter)

    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    for name in _LIBRARY_LOGGERS:
        lib = logging.getLogger(name)
        for old in list(lib.handlers):
            lib.removeHandler(old)
        lib.propagate = True
    logging.getLogger("sqlalchemy.engine").setLevel(max(level, logging.WARNING))  # SQL may hold personal data
    logging.getLogger("alembic.runtime.plugins").setLevel(max(level, logging.WARNING))  # start-up chatter
