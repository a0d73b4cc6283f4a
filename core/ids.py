"""Identifiers from outside (a path, a body, a query, a Stripe event's metadata): a whole
number from 1 to the largest bigint, written in ASCII digits, or refused before any lookup.

Python's `int()` reads other scripts' digits ("٣" is 3) and refuses others that
`str.isdigit()` accepts ("²"); a 5,000-digit string costs it quadratic time, and past
4,300 digits it raises. So an id is checked by its characters and its length first.
"""

from django import forms
from django.core.exceptions import BadRequest, ValidationError
from rest_framework import serializers

MAX_ID = 2**63 - 1  # PostgreSQL's bigint, every primary key here
_MAX_ID_DIGITS = len(str(MAX_ID))
_ASCII_DIGITS = frozenset("0123456789")
ID_RULE = f"a whole number from 1 to {MAX_ID}, in ASCII digits"


def id_parse(value) -> int | None:
    """`value` as an id (an int, or a string of ASCII digits), or None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        if not value or len(value) > _MAX_ID_DIGITS or not set(value) <= _ASCII_DIGITS:
            return None
        value = int(value)
    if not isinstance(value, int) or not 1 <= value <= MAX_ID:
        return None
    return value


class InvalidIdError(BadRequest):
    """An id in a URL's path that is not one: Django answers it with handler400."""


class IdConverter:
    """`<id:name>` in a URL: any path segment matches, and one that is not an id is a 400
    (Django's `<int:...>` leaves an id past bigint to the lookup)."""

    regex = "[^/]+"

    def to_python(self, value: str) -> int:
        parsed = id_parse(value)
        if parsed is None:
            raise InvalidIdError(f"The id in this address must be {ID_RULE}.")
        return parsed

    def to_url(self, value) -> str:
        return str(value)


class IdField(serializers.IntegerField):
    """An id in a request's body or query (an integer in the schema)."""

    default_error_messages = {"invalid": f"An id is required: {ID_RULE}."}

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_internal_value(self, data) -> int:
        parsed = id_parse(data)
        if parsed is None:
            self.fail("invalid")
        return parsed


class IdFormField(forms.IntegerField):
    """An id in a page's form or query."""

    default_error_messages = {"invalid": f"An id is required: {ID_RULE}."}

    def __init__(self, **kwargs):
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)

    def to_python(self, value) -> int | None:
        if value in self.empty_values:
            return None
        parsed = id_parse(value.strip() if isinstance(value, str) else value)
        if parsed is None:
            raise ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed
