from decimal import Decimal

import pytest
from django.core import mail
from django.db import transaction

from copytrade.models import Copy, Strategy
from core.errors import ApplicationError, ConflictError
from core.models import Notification
from marketplace.models import ProviderEvent, SignalProvider
from marketplace.services import provider_transition
from tests.marketplace.support import make_copy, make_provider, make_strategy

APPLICATION = {
    "display_name": "Owner's Momentum",
    "description": "Five years of BTC swing trading.",
    "trading_strategy": "Breakouts on the 4h chart.",
    "risk_level": "high",
    "subscription_fee_monthly": "29.00",
    "performance_fee_percent": "20",
}


def test_it_applies_as_a_pending_provider_and_emails_the_curators(owner, curator, client_for, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(owner).post("/api/marketplace/apply", APPLICATION, format="json")

    assert response.status_code == 201, response.data
    provider = SignalProvider.objects.get(user=owner)
    assert response.data["status"] == "pending"
    assert (provider.risk_level, provider.subscription_fee_monthly, provider.performance_fee_percent) == (
        "high",
        Decimal("29"),
        Decimal("20"),
    )
    event = provider.events.get()
    assert (event.action, event.field, event.from_value, event.to_value, event.actor) == ("apply", "status", "", "pending", owner)
    assert [message.to for message in mail.outbox] == [[curator.email]]
    assert "Owner's Momentum" in mail.outbox[0].subject
    assert Notification.objects.filter(user=curator, kind=Notification.Kind.PROVIDER_APPLICATION).count() == 1


def test_it_refuses_a_second_application_while_one_is_pending(owner, client_for):
    assert client_for(owner).post("/api/marketplace/apply", APPLICATION, format="json").status_code == 201

    response = client_for(owner).post("/api/marketplace/apply", {**APPLICATION, "display_name": "Other"}, format="json")

    assert response.status_code == 409
    assert set(response.data) == {"message", "extra"}
    assert SignalProvider.objects.get(user=owner).display_name == "Owner's Momentum"


@pytest.mark.parametrize(
    "bad",
    [
        {"performance_fee_percent": "50.01"},
        {"performance_fee_percent": "-1"},
        {"subscription_fee_monthly": "-5"},
        {"risk_level": "extreme"},
        {"display_name": ""},
        {"unknown": "x"},
    ],
)
def test_it_refuses_a_bad_application_and_creates_nothing(owner, client_for, bad):
    response = client_for(owner).post("/api/marketplace/apply", {**APPLICATION, **bad}, format="json")

    assert response.status_code == 400
    assert set(response.data) == {"message", "extra"}
    assert not SignalProvider.objects.exists()


def test_it_lets_a_rejected_provider_apply_again(owner, curator, client_for):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)
    provider_transition(provider_id=provider.pk, action="reject", actor=curator, reason="No track record yet.")

    response = client_for(owner).post("/api/marketplace/apply", {**APPLICATION, "display_name": "Second try"}, format="json")

    assert response.status_code == 201, response.data
    provider.refresh_from_db()
    assert (provider.status, provider.display_name) == ("pending", "Second try")
    assert list(provider.events.order_by("id").values_list("action", "from_value", "to_value")) == [
        ("reject", "pending", "rejected"),
        ("reapply", "rejected", "pending"),
    ]


def test_a_curator_approves_a_pending_provider_and_the_provider_is_emailed(owner, curator, django_capture_on_commit_callbacks):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    with django_capture_on_commit_callbacks(execute=True):
        provider_transition(provider_id=provider.pk, action="approve", actor=curator, reason="Audited statements.")

    provider.refresh_from_db()
    assert provider.status == "approved"
    event = provider.events.get()
    assert (event.action, event.from_value, event.to_value, event.actor, event.reason) == (
        "approve",
        "pending",
        "approved",
        curator,
        "Audited statements.",
    )
    assert [message.to for message in mail.outbox] == [[owner.email]]
    assert "approved" in mail.outbox[0].subject
    assert "Audited statements." in mail.outbox[0].body


@pytest.mark.parametrize(
    ("status", "action"),
    [
        ("pending", "suspend"),
        ("pending", "reinstate"),
        ("approved", "approve"),
        ("approved", "reject"),
        ("approved", "reinstate"),
        ("rejected", "approve"),
        ("rejected", "suspend"),
        ("rejected", "reinstate"),
        ("suspended", "approve"),
        ("suspended", "reject"),
        ("suspended", "suspend"),
    ],
)
def test_it_refuses_an_illegal_transition_and_changes_nothing(owner, curator, status, action):
    provider = make_provider(owner, status=status)

    with pytest.raises(ConflictError, match=f"Cannot {action} a provider that is {status}"):
        provider_transition(provider_id=provider.pk, action=action, actor=curator, reason="because")

    provider.refresh_from_db()
    assert provider.status == status
    assert not provider.events.exists()
    assert not Notification.objects.exists()


def test_it_requires_a_reason_and_a_curator(owner, curator, stranger):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)

    with pytest.raises(ApplicationError, match="reason is required"):
        provider_transition(provider_id=provider.pk, action="approve", actor=curator, reason="  ")
    with pytest.raises(ApplicationError, match="Only curators") as refused:
        provider_transition(provider_id=provider.pk, action="approve", actor=stranger, reason="I like them")

    assert refused.value.status_code == 403
    provider.refresh_from_db()
    assert provider.status == "pending"
    assert not provider.events.exists()


def test_suspension_closes_strategies_pauses_active_copies_and_tells_followers(
    owner, follower, stranger, curator, django_capture_on_commit_callbacks
):
    provider = make_provider(owner)
    strategy = make_strategy(owner)
    other_strategy = make_strategy(stranger, name="Unrelated")
    active = make_copy(follower, strategy)
    stopped = make_copy(stranger, strategy, status=Copy.Status.STOPPED)
    unrelated = make_copy(follower, other_strategy)

    with django_capture_on_commit_callbacks(execute=True):
        provider_transition(provider_id=provider.pk, action="suspend", actor=curator, reason="Unverifiable fills.")

    strategy.refresh_from_db()
    assert strategy.accepting_copies is False
    assert Strategy.objects.get(id=other_strategy.pk).accepting_copies is True
    active.refresh_from_db(), stopped.refresh_from_db(), unrelated.refresh_from_db()
    assert (active.status, active.pause_reason) == ("paused", Copy.PauseReason.PROVIDER_SUSPENDED)
    assert stopped.status == "stopped"
    assert unrelated.status == "active"
    told = Notification.objects.get(kind=Notification.Kind.PROVIDER_SUSPENDED)
    assert told.user == follower
    assert "Unverifiable fills." in told.body
    assert sorted(address for message in mail.outbox for address in message.to) == sorted([follower.email, owner.email])


def test_reinstatement_reopens_the_strategies_and_clears_the_review_flag(owner, follower, curator):
    provider = make_provider(owner, needs_review=True, review_reason="breaker")
    strategy = make_strategy(owner)
    make_copy(follower, strategy)
    provider_transition(provider_id=provider.pk, action="suspend", actor=curator, reason="Review.")

    provider_transition(provider_id=provider.pk, action="reinstate", actor=curator, reason="Cleared.")

    provider.refresh_from_db()
    strategy.refresh_from_db()
    assert (provider.status, provider.needs_review, provider.review_reason) == ("approved", False, "")
    assert strategy.accepting_copies is True
    assert list(provider.events.order_by("id").values_list("action", flat=True)) == ["suspend", "reinstate"]
    assert Notification.objects.filter(user=follower, title__contains="reinstated").exists()


def test_the_event_log_records_every_transition_in_order(owner, curator):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)
    provider_transition(provider_id=provider.pk, action="approve", actor=curator, reason="ok")
    provider_transition(provider_id=provider.pk, action="suspend", actor=curator, reason="complaints")
    provider_transition(provider_id=provider.pk, action="reinstate", actor=curator, reason="resolved")

    assert list(ProviderEvent.objects.order_by("id").values_list("from_value", "to_value", "reason")) == [
        ("pending", "approved", "ok"),
        ("approved", "suspended", "complaints"),
        ("suspended", "approved", "resolved"),
    ]


def test_the_event_log_cannot_be_edited_or_deleted(owner, curator):
    provider = make_provider(owner, status=SignalProvider.Status.PENDING)
    provider_transition(provider_id=provider.pk, action="approve", actor=curator, reason="ok")

    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        ProviderEvent.objects.update(reason="rewritten history")
    with pytest.raises(Exception, match="append-only"), transaction.atomic():
        ProviderEvent.objects.all().delete()

    assert list(ProviderEvent.objects.values_list("reason", flat=True)) == ["ok"]
