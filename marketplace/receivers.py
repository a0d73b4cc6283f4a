"""marketplace's answers to the signals of the layers below it."""

from django.dispatch import receiver

from copytrade.events import copy_starting, copying_open_requested, invitation_accepts
from core.errors import ConflictError
from marketplace.models import SignalProvider
from marketplace.selectors import strategy_awaits_curation, strategy_invitation_valid
from marketplace.services import copy_capacity_check, copy_terms_record, invited_copy_record


@receiver(copying_open_requested)
def refuse_copying_a_suspended_provider(sender, *, owner, creating: bool = False, strategy=None, **kwargs) -> None:
    """Copying a provider's strategies opens with the curators' approval: a copy is started or
    resumed only while the provider is approved (or the owner charges nothing: no provider).
    Suspension closes the strategies that exist then; this keeps everything opened later
    closed too (a new strategy, a copy started or resumed) until curators reinstate.

    A copy starts or resumes under its strategy's row lock, which a suspension takes too,
    so it is decided before or after the suspension. A new strategy has no row yet: its
    creation locks the provider's row (after the owner's, the order core.locks keeps), so a
    suspension committing at the same instant either comes first and is seen here, or
    waits and then finds the new strategy among those it closes."""
    providers = SignalProvider.objects.filter(user_id=owner.pk)
    if creating:
        providers = providers.select_for_update(no_key=True)
    provider = providers.only("status").first()
    if provider is None and strategy is not None and strategy_awaits_curation(strategy_id=strategy.pk):
        # Every leader who charges a fee goes through curation: an AI strategy too.
        raise ConflictError(
            f"'{strategy.name}' is an AI strategy that charges a fee: it can be copied once curators approve its leader, "
            "who applies as a signal provider."
        )
    if provider is None or provider.status == SignalProvider.Status.APPROVED:
        return
    if provider.status == SignalProvider.Status.SUSPENDED:
        raise ConflictError("This signal provider is suspended by curators; its strategies cannot be copied until it is reinstated.")
    # A provider under review or refused builds its record (creates strategies, trades) but
    # is not listed or copied: copying opens with the curators' approval.
    if not creating:
        refused = provider.status == SignalProvider.Status.REJECTED
        raise ConflictError(
            "This signal provider was not approved by curators; its strategies cannot be copied."
            if refused
            else "This signal provider is awaiting the curators' approval; its strategies can be copied once approved."
        )


@receiver(copy_starting)
def record_the_terms_of_a_new_copy(sender, *, copy, expected_terms, **kwargs) -> None:
    copy_terms_record(copy=copy, expected=expected_terms)


@receiver(copy_starting)
def refuse_a_copy_past_the_leaders_capacity(sender, *, copy, **kwargs) -> None:
    copy_capacity_check(copy=copy)


@receiver(copy_starting)
def record_the_invitation_a_copy_came_by(sender, *, copy, invitation: str = "", **kwargs) -> None:
    invited_copy_record(copy=copy, token=invitation)


@receiver(invitation_accepts)
def accept_a_valid_invitation_link(sender, *, strategy, token, **kwargs) -> bool:
    return strategy_invitation_valid(strategy_id=strategy.pk, token=token)
