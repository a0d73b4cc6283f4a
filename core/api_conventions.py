"""The conventions every endpoint follows: one error shape ({"message": str, "extra": {...}}),
limit/offset pagination and input serializers that refuse unknown fields. (core/apis.py is
the core app's own endpoints.)

Services raise `ApplicationError` (or Django's ValidationError); views never build error
responses by hand.
"""

import logging
from decimal import Decimal

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.pagination import LimitOffsetPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from core.database import MESSAGE as DATABASE_BUSY
from core.database import database_unavailable, retry_after
from core.errors import ApplicationError, ThrottledError
from core.money import cents_text

logger = logging.getLogger(__name__)


def _first_message(detail) -> str:
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    if isinstance(detail, dict) and detail:
        key, value = next(iter(detail.items()))
        inner = _first_message(value)
        return inner if key in ("non_field_errors", "detail") else f"{key}: {inner}"
    return str(detail)


def exception_handler(exc, context):
    if database_unavailable(exc):  # PostgreSQL refused the connection: come back, not a 500
        return Response({"message": DATABASE_BUSY, "extra": {}}, status=503, headers={"Retry-After": retry_after()})
    if isinstance(exc, ApplicationError):
        response = Response({"message": exc.message, "extra": exc.extra}, status=exc.status_code)
        if isinstance(exc, ThrottledError):
            response["Retry-After"] = str(exc.retry_after)
        return response
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500

    if isinstance(exc, exceptions.ValidationError):
        fields = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        response.data = {"message": f"Invalid input. {_first_message(fields)}", "extra": {"fields": fields}}
    else:
        detail = response.data.get("detail", response.data) if isinstance(response.data, dict) else response.data
        response.data = {"message": str(detail), "extra": {}}
    return response


class SecretResponse(Response):
    """An answer that carries a secret shown once (a webhook secret, an API token): no cache,
    the browser's included, may keep a copy."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self["Cache-Control"] = "no-store"


class Pagination(LimitOffsetPagination):
    default_limit = 50
    max_limit = 200


class StrictInputSerializer(serializers.Serializer):
    """Refuses fields it does not know: a typo (`ammount`) must not be silently dropped, and a
    field we never offer (an exchange URL, say) must not look accepted."""

    def validate(self, data):
        unknown = sorted(set(self.initial_data) - set(self.fields)) if isinstance(self.initial_data, dict) else []
        if unknown:
            raise serializers.ValidationError({unknown[0]: "Unknown field."})
        return super().validate(data)


class PageFilterSerializer(StrictInputSerializer):
    """A list endpoint's query: its own filters and the page (`limit`, `offset`; Pagination's
    default and cap). `filters` is what the selector takes: the validated query less the page."""

    limit = serializers.IntegerField(min_value=1, required=False, help_text=f"Rows per page, at most {Pagination.max_limit}.")
    offset = serializers.IntegerField(min_value=0, required=False)

    @property
    def filters(self) -> dict:
        return {key: value for key, value in self.validated_data.items() if key not in ("limit", "offset")}


def paginated_response(*, request, view, queryset, serializer_class, context: dict | None = None) -> Response:
    """A page of `queryset` in the project's pagination shape; the view declares
    `pagination_class` so the schema documents the page too."""
    paginator = view.pagination_class()
    page = paginator.paginate_queryset(queryset, request, view=view)
    return paginator.get_paginated_response(serializer_class(page, many=True, context=context or {}).data)


class CentsField(serializers.DecimalField):
    """An amount a person reads, in a body: a decimal string of cents rounded half up
    (`core.money.cents_text`, as the pages show it), never the column's "0E-8"."""

    def __init__(self, **kwargs):
        super().__init__(max_digits=settings.MONEY_MAX_DIGITS, decimal_places=2, **kwargs)

    def to_representation(self, value: Decimal) -> str:
        return cents_text(value)
