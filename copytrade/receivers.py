"""copytrade's answers to the signals of the layers below it."""

from django.dispatch import receiver

from copytrade.models import Copy, Strategy
from core.errors import ConflictError
from exchanges.signals import account_delete_requested


@receiver(account_delete_requested)
def refuse_deleting_an_account_in_use(sender, *, account, **kwargs) -> None:
    """Copies and strategies on an account are started by its owner under the owner's row
    lock, which the delete holds: "not in use" stays true until the delete commits."""
    if Copy.objects.filter(exchange_account=account, status__in=Copy.LIVE_STATUSES).exists():
        raise ConflictError("This account is used by a live copy; stop the copy first.")
    if Strategy.objects.filter(leader_account=account).exists():
        raise ConflictError("This account is the leader account of a strategy; it cannot be deleted.")
    if Copy.objects.filter(exchange_account=account).exists():
        raise ConflictError("This account has copy history that billing and statements refer to; it cannot be deleted.")
