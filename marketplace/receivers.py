"""marketplace's answers to the signals of the layers below it."""

from django.dispatch import receiver

from copytrade.signals import copying_open_requested
from core.errors import ConflictError
from marketplace.models import SignalProvider


@receiver(copying_open_requested)
def refuse_copying_a_suspended_provider(sender, *, owner, **kwargs) -> None:
    """Suspension closes the strategies that exist then; this keeps everything opened later
    closed too (a new strategy, a copy started or resumed) until curators reinstate. A copy
    starts or resumes under its strategy's row lock, which a suspension takes too, so it is
    decided before or after the suspension. A strategy created in the same instant as the
    suspension commits is not covered: locking for it (the owner's row, then the provider's)
    would deadlock with the suspension's notifications: a known gap (issue 18)."""
    if SignalProvider.objects.filter(user_id=owner.pk, status=SignalProvider.Status.SUSPENDED).exists():
        raise ConflictError("This signal provider is suspended by curators; its strategies cannot be copied until it is reinstated.")
