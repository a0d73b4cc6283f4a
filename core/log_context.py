"""Logs that trace (issue 30): every log record carries the request id and, through fan-out
and execution, the leader trade and copied trade ids it belongs to.

- The web: `RequestIdMiddleware` takes the request's `X-Request-ID` (a well-formed one) or
  makes one, answers it back in the same header, and binds it until the request finishes.
- Celery: a message published while ids are bound carries them in its headers
  (`before_task_publish`); the task that runs it binds them again (`task_prerun`), adds its
  own (the fan-out its leader trade, an execution its copied trade: `bind` in the tasks)
  and forgets them all afterwards (`task_postrun`; pool threads are reused).
- `install_record_factory` stamps the bound ids on every record as it is made (so caplog
  sees them too); `JsonFormatter` writes one JSON object per line (LOG_FORMAT=json).
"""

import json
import logging
import re
import time
import uuid
from contextvars import ContextVar

FIELDS = ("request_id", "leader_trade_id", "copied_trade_id")
_context: dict[str, ContextVar] = {name: ContextVar(name, default=None) for name in FIELDS}
# A client's own id is kept when it looks like one (no spaces, quotes or newlines to forge a log line).
REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
HEADER_PREFIX = "copytrade_"


def bind(**values) -> None:
    for name, value in values.items():
        _context[name].set(value)


def bound() -> dict:
    return {name: var.get() for name, var in _context.items() if var.get() is not None}


def clear() -> None:
    for var in _context.values():
        var.set(None)


def install_record_factory() -> None:
    """Every LogRecord made from now on carries the bound ids as attributes (None when unbound)."""
    previous = logging.getLogRecordFactory()
    if getattr(previous, "copytrade_context", False):
        return

    def factory(*args, **kwargs):
        record = previous(*args, **kwargs)
        for name, var in _context.items():
            setattr(record, name, var.get())
        return record

    factory.copytrade_context = True
    logging.setLogRecordFactory(factory)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time (UTC, ISO 8601), level, logger, message, the bound ids
    that are set, and the traceback if any."""

    converter = time.gmtime

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            value = getattr(record, name, None)
            if value is not None:
                line[name] = value
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["exc"] = record.exc_text
        return json.dumps(line, default=str)


class RequestIdMiddleware:
    """First in the chain: everything a request logs carries its id, up to Django's own line
    for a 4xx/5xx (logged after the middleware chain returns); `request_finished` forgets it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        given = request.headers.get("X-Request-ID", "")
        request_id = given if REQUEST_ID.match(given) else uuid.uuid4().hex
        request.request_id = request_id
        clear()
        bind(request_id=request_id)
        response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


def forget_request(**kwargs) -> None:
    """`request_finished`: the thread's next work is not this request's."""
    clear()


def message_headers() -> dict:
    """What a message published now carries (before_task_publish)."""
    return {f"{HEADER_PREFIX}{name}": value for name, value in bound().items()}


def bind_from_task(request) -> None:
    """A task's run takes the ids its message carried (task_prerun)."""
    clear()
    bind(**{name: getattr(request, f"{HEADER_PREFIX}{name}", None) for name in FIELDS})
