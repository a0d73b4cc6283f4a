"""Notifications that follow the copy: each kind made by the real event, as the follower's
preferences say (shown in the app, mailed), with the email on by default only for what asks
them to act or what the platform did on its own."""

from decimal import Decimal

import pytest
from django.core import mail

from copytrade.models import CopiedTrade
from copytrade.services.copies import (
    copy_pause,
    copy_resume,
    copy_start,
    copy_stop,
    exchange_account_invalidate,
)
from copytrade.services.fanout import leader_trade_fan_out
from copytrade.services.fill_notices import leader_trade_fills_notify
from core.models import Notification
from core.notifications import notification_preferences_set
from tests.copytrade import simulator_account, submit
from tests.copytrade.test_execution import run_engine, sim, strategy  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db


def _kinds(user) -> list[str]:
    return list(Notification.objects.filter(user=user).order_by("id").values_list("kind", flat=True))


def test_start_pause_resume_and_stop_are_each_told_in_the_app_without_mail(sim, strategy, follower, django_capture_on_commit_callbacks):
    account = simulator_account(sim, follower, usdt="10000")
    with django_capture_on_commit_callbacks(execute=True):
        copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
        copy_pause(follower=follower, copy_id=copy.pk)
        copy_resume(follower=follower, copy_id=copy.pk)
        copy_stop(follower=follower, copy_id=copy.pk)

    K = Notification.Kind
    assert _kinds(follower) == [K.COPY_STARTED, K.COPY_PAUSED, K.COPY_RESUMED, K.COPY_STOPPED]
    started = Notification.objects.get(user=follower, kind=K.COPY_STARTED)
    assert started.title == f"You started copying {strategy.name}"
    assert f"On '{account.label}', with a capital of 2,000.00 USDT." in started.body
    assert mail.outbox == []


def test_a_stop_that_closes_the_positions_is_told_and_mailed(sim, strategy, follower, django_capture_on_commit_callbacks):
    account = simulator_account(sim, follower, usdt="10000")
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    submit(strategy, "t1", "buy", amount="1", price="65000")
    run_engine()

    with django_capture_on_commit_callbacks(execute=True):
        copy_stop(follower=follower, copy_id=copy.pk, close_positions=True)
    run_engine()

    closed = Notification.objects.get(user=follower, kind=Notification.Kind.COPY_CLOSED)
    assert closed.body.startswith("1 position(s) are being sold or bought back at market")
    assert [message.subject for message in mail.outbox] == [closed.title]
    assert CopiedTrade.objects.get(copy=copy, kind=CopiedTrade.Kind.CLOSE_ON_STOP).status == CopiedTrade.Status.FILLED


def test_fills_make_one_notification_per_copy_per_leader_trade_and_a_rerun_adds_none(sim, strategy, follower, stranger):
    # given two followers, each copying on their own account
    for user in (follower, stranger):
        account = simulator_account(sim, user, usdt="10000")
        copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    leader_trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]
    leader_trade_fan_out(leader_trade_id=leader_trade.pk)

    # when the notice runs before the copies are done, and again after (the task's retries)
    assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is True
    assert not Notification.objects.filter(kind=Notification.Kind.COPIED_TRADE_FILLED).exists()
    run_engine()
    assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is False
    assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is False

    # then each follower has one, in words, with the fee named as a fee
    for user in (follower, stranger):
        [filled] = Notification.objects.filter(user=user, kind=Notification.Kind.COPIED_TRADE_FILLED)
        row = CopiedTrade.objects.get(follower=user)
        assert filled.title == f"Copied: the buy of BTC/USDT by {strategy.name} (trade #1)"
        assert filled.body.startswith(f"Bought {row.filled_amount.normalize():f} BTC/USDT at 65,000 on '")
        assert "; fee " in filled.body and "0000" not in filled.body
    assert mail.outbox == []


def test_in_app_off_writes_no_row_and_email_off_sends_no_mail(sim, strategy, follower, django_capture_on_commit_callbacks):
    # given a follower who wants no pause notices in the app, and no mail about a refused key
    notification_preferences_set(
        user=follower,
        choices={Notification.Kind.COPY_PAUSED: (False, False), Notification.Kind.ACCOUNT_INVALID: (True, False)},
    )
    account = simulator_account(sim, follower, usdt="10000")
    copy = copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))

    # when they pause it, and the exchange later refuses the account's key
    with django_capture_on_commit_callbacks(execute=True):
        copy_pause(follower=follower, copy_id=copy.pk)
        copy_resume(follower=follower, copy_id=copy.pk)
        exchange_account_invalidate(account_id=account.pk)

    # then no pause row, the key's notice in the app only, and no mail at all
    assert not Notification.objects.filter(user=follower, kind=Notification.Kind.COPY_PAUSED).exists()
    refused = Notification.objects.get(user=follower, kind=Notification.Kind.ACCOUNT_INVALID)
    assert refused.body.startswith("The exchange refused this API key: check key, secret and trading permission")
    assert mail.outbox == []


def test_a_refused_key_is_mailed_by_default_and_email_on_mails_a_kind_that_is_off_by_default(
    sim, strategy, follower, django_capture_on_commit_callbacks
):
    notification_preferences_set(user=follower, choices={Notification.Kind.COPY_STARTED: (True, True)})
    account = simulator_account(sim, follower, usdt="10000")

    with django_capture_on_commit_callbacks(execute=True):
        copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
        exchange_account_invalidate(account_id=account.pk)

    assert [message.subject for message in mail.outbox] == [
        f"You started copying {strategy.name}",
        f"Exchange account '{account.label}' needs a new API key",
    ]
