"""Writes for the public face of a user: the display name."""

import re

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from core.models import DISPLAY_NAME_TAKEN, Profile
from core.names import name_key, validate_printable_name, validate_single_script_name

DISPLAY_NAME_MIN_LENGTH = 3
DISPLAY_NAME_MAX_LENGTH = 40
# Letters (any script), digits, spaces and a few separators: no "@", so a display name can
# never be (or look like) an email address.
_DISPLAY_NAME = re.compile(r"^[\w .'-]+$")


def display_name_validate(value: str) -> str:
    """The display name as it will be stored (spaces trimmed and collapsed), or a ValidationError."""
    validate_printable_name(value)
    name = " ".join(value.split())
    validate_single_script_name(name)
    if not DISPLAY_NAME_MIN_LENGTH <= len(name) <= DISPLAY_NAME_MAX_LENGTH:
        raise ValidationError(f"Use {DISPLAY_NAME_MIN_LENGTH} to {DISPLAY_NAME_MAX_LENGTH} characters.")
    if not _DISPLAY_NAME.match(name):
        raise ValidationError("Use letters, digits, spaces, dots, apostrophes, hyphens and underscores only.")
    if Profile.objects.filter(display_name_key=name_key(name)).exists():
        raise ValidationError(DISPLAY_NAME_TAKEN)
    return name


@transaction.atomic
def profile_create(*, user, display_name: str) -> Profile:
    name = display_name_validate(display_name)
    try:
        with transaction.atomic():
            return Profile.objects.create(user=user, display_name=name, display_name_key=name_key(name))
    except IntegrityError:
        # Two sign-ups raced for the same name (or the user already has a profile).
        raise ValidationError({"display_name": DISPLAY_NAME_TAKEN}) from None
