"""PostgreSQL refusing connections is a 503 with Retry-After, never a 500 (issue 30).

A shared server at max_connections answers "sorry, too many clients already"; a restart or
a failover refuses for a few seconds. Neither is a bug of the page or the endpoint that met
it: the client is told to come back (`DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS`). The API
answers in its one error shape (core.api_conventions.exception_handler); pages and anything
else through `DatabaseUnavailableMiddleware` (a view's error) and `server_error` (handler500:
an error raised outside a view, in production settings). Nothing here renders a template:
a template's context processors would ask the database again.

`connection_saturation` is what `/healthz` reports: connections in use / max_connections.
"""

import sys

from django.conf import settings
from django.db import OperationalError, connection
from django.http import HttpResponse, JsonResponse
from django.views import defaults

MESSAGE = "The service is busy; please try again in a few seconds."
# SQLSTATE classes of a refused or lost connection: 08 connection exception, 53 insufficient
# resources (53300 too_many_connections), 57P01-57P03 shutdown / cannot connect now.
REFUSAL_SQLSTATES = ("08", "53", "57P01", "57P02", "57P03")


def database_unavailable(exc: BaseException | None) -> bool:
    """Is `exc` PostgreSQL refusing (or having dropped) the connection, not a query's fault?
    A connection refused before the server answered carries no SQLSTATE at all."""
    if not isinstance(exc, OperationalError):
        return False
    code = getattr(exc.__cause__, "pgcode", None)
    return code is None or code.startswith(REFUSAL_SQLSTATES)


def retry_after() -> str:
    return str(settings.DATABASE_UNAVAILABLE_RETRY_AFTER_SECONDS)


def wants_json(request) -> bool:
    return request.path.startswith(("/api/", "/webhook")) or "application/json" in request.headers.get("Accept", "")


def database_unavailable_response(request) -> HttpResponse:
    if wants_json(request):
        response = JsonResponse({"message": MESSAGE, "extra": {}}, status=503)
    else:
        page = (
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Busy · copytrade</title></head>"
            f"<body><h1>Busy</h1><p>{MESSAGE}</p></body></html>"
        )
        response = HttpResponse(page, status=503, content_type="text/html; charset=utf-8")
    response["Retry-After"] = retry_after()
    response["Cache-Control"] = "no-store"
    return response


class DatabaseUnavailableMiddleware:
    """A view that met a refused connection answers 503 with Retry-After."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if database_unavailable(exception):
            return database_unavailable_response(request)
        return None


def server_error(request):
    """handler500: a refused connection raised outside a view is a 503 too."""
    if database_unavailable(sys.exc_info()[1]):
        return database_unavailable_response(request)
    return defaults.server_error(request)


def connection_saturation() -> dict:
    """Client connections PostgreSQL holds now against its max_connections (all databases:
    the limit is the server's); behind PgBouncer, the pooler's server connections."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend'")
        in_use = cursor.fetchone()[0]
        cursor.execute("SELECT current_setting('max_connections')::int")
        limit = cursor.fetchone()[0]
    return {"in_use": in_use, "max": limit, "saturation": round(in_use / limit, 3) if limit else None}
