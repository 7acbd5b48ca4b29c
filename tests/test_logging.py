"""Structured logging: one JSON line per event for structlog and stdlib loggers; no phone number out."""

import io
import json
import logging

import pytest
import structlog

from adapters.logging import configure_logging, mask_phone, mask_phone_numbers


@pytest.fixture
def log_stream():
    """configure_logging() writing to a buffer; the logging set-up of the session is restored after."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    saved_uvicorn = {name: (logging.getLogger(name).handlers[:], logging.getLogger(name).propagate)
                     for name in ("uvicorn", "uvicorn.error", "uvicorn.access")}
    stream = io.StringIO()
    configure_logging("INFO", json=True, stream=stream)
    yield stream
    structlog.contextvars.clear_contextvars()
    structlog.reset_defaults()
    root.handlers[:] = saved[0]
    root.setLevel(saved[1])
    for name, (handlers, propagate) in saved_uvicorn.items():
        logging.getLogger(name).handlers[:] = handlers
        logging.getLogger(name).propagate = propagate


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


@pytest.mark.parametrize(("raw", "masked"), [
    ("13812341234", "138****1234"),
    ("19900001111", "199****1111"),
    ("138-1234-1234", "138****1234"),
    ("123456", "123456"),             # fewer than 7 digits: unchanged
    ("ab12", "ab12"),
    ("0755-8888123", "075****8123"),  # a landline: first 3 and last 4 digits kept
    ("8613812341234", "138****1234"),  # the country code left out (P3)
])
def test_mask_phone(raw: str, masked: str) -> None:
    assert mask_phone(raw) == masked


def test_processor_masks_every_string_value() -> None:
    event = {"event": "call from 13812341234", "phone": "15900001111", "n": 17700001111,
             "nested": {"to": ["13612345678", "x"]}, "case_no": "TS-2026-000123", "amount_fen": 123456789012,
             "ok": True}
    out = mask_phone_numbers(None, "info", dict(event))
    assert out["event"] == "call from 138****1234"
    assert out["phone"] == "159****1111"
    assert out["n"] == "177****1111"
    assert out["nested"] == {"to": ["136****5678", "x"]}
    assert out["case_no"] == "TS-2026-000123"
    assert out["amount_fen"] == 123456789012  # 12 digits: not a mobile number
    assert out["ok"] is True
    # 11 digits inside a longer run of digits are not a phone number
    assert mask_phone_numbers(None, "info", {"event": "id 9913812341234"})["event"] == "id 9913812341234"


def test_structlog_event_is_one_masked_json_line(log_stream: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-1")
    structlog.get_logger("aftersales.test").info("owner called", phone="13812341234", case_no="TS-1")
    [line] = lines(log_stream)
    assert line["event"] == "owner called"
    assert line["phone"] == "138****1234"
    assert line["level"] == "info"
    assert line["request_id"] == "r-1"
    assert line["case_no"] == "TS-1"
    assert line["timestamp"].startswith("20") and "T" in line["timestamp"]
    assert "13812341234" not in log_stream.getvalue()


def test_stdlib_loggers_go_through_the_same_pipeline(log_stream: io.StringIO) -> None:
    structlog.contextvars.bind_contextvars(request_id="r-2")
    logging.getLogger("temporalio.worker").warning("activity failed for %s", "13912345678")
    uvicorn = logging.getLogger("uvicorn.error")
    uvicorn.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's own config would
    uvicorn.propagate = False
    configure_logging("INFO", json=True, stream=log_stream)    # takes uvicorn's loggers over
    logging.getLogger("uvicorn.error").info("Started server process")
    first, second = lines(log_stream)
    assert first == {**first, "event": "activity failed for 139****5678", "level": "warning",
                     "logger": "temporalio.worker", "request_id": "r-2"}
    assert second["event"] == "Started server process" and second["logger"] == "uvicorn.error"
    assert "13912345678" not in log_stream.getvalue()


def test_exceptions_are_rendered_and_masked(log_stream: io.StringIO) -> None:
    try:
        raise ValueError("bad phone 13700001111")
    except ValueError:
        structlog.get_logger().exception("lookup failed")
        logging.getLogger("temporalio").exception("activity error")
    records = lines(log_stream)
    assert len(records) == 2
    for record in records:
        assert "ValueError: bad phone 137****1111" in record["exception"]
    assert "13700001111" not in log_stream.getvalue()


def test_level_filters(log_stream: io.StringIO) -> None:
    configure_logging("WARNING", stream=log_stream)
    structlog.get_logger().info("hidden")
    logging.getLogger("temporalio").info("hidden too")
    structlog.get_logger().warning("shown")
    assert [r["event"] for r in lines(log_stream)] == ["shown"]


def test_the_log_level_is_a_setting(monkeypatch: pytest.MonkeyPatch, log_stream: io.StringIO) -> None:
    """AFTERSALES_LOG_LEVEL sets what every process logs (worker, API, make run); a level that does not
    exist stops the process at start with the setting named, not a silent INFO."""
    from pydantic import ValidationError

    from adapters.config import Settings
    monkeypatch.setenv("AFTERSALES_LOG_LEVEL", "WARNING")
    configure_logging(Settings().log_level, stream=log_stream)
    structlog.get_logger().info("case projected")
    structlog.get_logger().warning("shown")
    assert [r["event"] for r in lines(log_stream)] == ["shown"]
    monkeypatch.setenv("AFTERSALES_LOG_LEVEL", "LOUD")
    with pytest.raises(ValidationError, match="log_level"):
        Settings()


def test_console_renderer(log_stream: io.StringIO) -> None:
    configure_logging("INFO", json=False, stream=log_stream)
    structlog.get_logger().info("hello", phone="13812341234")
    text = log_stream.getvalue()
    assert "hello" in text and "138****1234" in text and "13812341234" not in text
