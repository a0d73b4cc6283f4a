"""marketplace's answers to the signals of the layers below it."""

from django.dispatch import receiver

from copytrade.signals import copying_open_requested
from core.errors import ConflictError
from marketplace.models import SignalProvider


@receiver(copying_open_requested)
def refuse_copying_a_suspended_provider(sender, *, owner, **kwargs) -> None:
    """Suspension closes the strategies that exist then; this keeps everything opened later
    closed too (a new strategy, a copy started or resumed) until curators reinstate. No race:
    a strategy is created under its owner's row lock, which a suspension takes first; a copy
    starts or resumes under its strategy's row lock, which a suspension takes too."""
    if SignalProvider.objects.filter(user_id=owner.pk, status=SignalProvider.Status.SUSPENDED).exists():
        raise ConflictError("This signal provider is suspended by curators; its strategies cannot be copied until it is reinstated.")
