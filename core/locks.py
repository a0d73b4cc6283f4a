"""Row locks shared across apps.

Lock order, everywhere: the user row (`user_row_lock`), then the strategy, then the
relationship. A follower's allocation-changing writes (copy start, allocation change) and
an exchange-account delete all take the user row first, so two of them never interleave.
"""

from django.contrib.auth import get_user_model


def user_row_lock(*, user_id: int) -> None:
    """Lock a user's row until the surrounding transaction ends."""
    get_user_model().objects.select_for_update().only("pk").get(pk=user_id)
