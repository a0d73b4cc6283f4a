"""What every page module shares: how a view tells an htmx request, and how a service's
ValidationError lands on the form that called it."""

from django.core.exceptions import ValidationError


def is_htmx(request) -> bool:
    return request.headers.get("HX-Request") == "true"


def add_service_errors(form, error: ValidationError) -> None:
    """A service's errors beside the fields they name; the rest above the form."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.message_dict.items():
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error.messages)
