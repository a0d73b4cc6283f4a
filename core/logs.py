"""Log records shaped for operators: a refused request is one line, not a traceback."""

import logging


class RequestRefusalFilter(logging.Filter):
    """For `django.request`: every 4xx is one line without a traceback (the client's mistake,
    not ours; the stack of `raise PermissionDenied` tells nobody anything), and a 403, which
    staff meet whenever a role lacks a page, is INFO rather than WARNING."""

    def filter(self, record: logging.LogRecord) -> bool:
        status = getattr(record, "status_code", None)
        if isinstance(status, int) and 400 <= status < 500:
            record.exc_info = None
            record.exc_text = None
            record.stack_info = None
            if status == 403:
                record.levelno, record.levelname = logging.INFO, logging.getLevelName(logging.INFO)
                # The logger let it through as a WARNING; as INFO it must pass the level again.
                return logging.getLogger(record.name).isEnabledFor(logging.INFO)
        return True
