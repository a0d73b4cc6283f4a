"""The fill-notice pass (copytrade/services/fill_notices.py) runs every few seconds while a
fan-out is open: what it reads must be what is left to tell, never the exchange account's
keys, and a notice already written is neither written nor mailed again."""

from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext

from copytrade.models import CopiedTrade
from copytrade.services.copies import copy_start
from copytrade.services.execution import copied_trade_execute
from copytrade.services.fanout import leader_trade_fan_out
from copytrade.services.fill_notices import leader_trade_fills_notify
from core.models import Notification
from core.notifications import Notice, notification_preferences_set, notifications_send_once
from tests.copytrade import simulator_account, submit
from tests.copytrade.test_execution import run_engine, sim, strategy  # noqa: F401 (fixtures)

pytestmark = pytest.mark.django_db

FILLED = Notification.Kind.COPIED_TRADE_FILLED


def _two_copies_of_one_trade(sim, strategy, follower, stranger):
    for user in (follower, stranger):
        account = simulator_account(sim, user, usdt="10000")
        copy_start(follower=user, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("20"))
    leader_trade = submit(strategy, "t1", "buy", amount="1", price="65000").trades[0]
    leader_trade_fan_out(leader_trade_id=leader_trade.pk)
    return leader_trade


class RowsReturned:
    """The rows each statement returned, by its SQL."""

    def __init__(self):
        self.statements: list[tuple[str, int]] = []

    def __call__(self, execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        self.statements.append((sql, context["cursor"].rowcount))
        return result

    def notice_rows(self) -> list[int]:
        return [rows for sql, rows in self.statements if 'FROM "copytrade_copiedtrade"' in sql and '"auth_user"."email"' in sql]


def test_a_second_pass_reads_only_the_copies_not_yet_told(sim, strategy, follower, stranger):
    # given one copy filled and told, the other still open
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    copied_trade_execute(copied_trade_id=CopiedTrade.objects.get(follower=follower).pk)
    assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is True
    assert Notification.objects.filter(kind=FILLED).count() == 1

    # when the other fills and the next pass runs
    run_engine()
    counted = RowsReturned()
    with connection.execute_wrapper(counted):
        assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is False

    # then it read the one row not told yet, and told it
    assert counted.notice_rows() == [1]
    assert set(Notification.objects.filter(kind=FILLED).values_list("user_id", flat=True)) == {follower.pk, stranger.pk}

    # and a pass with nothing left to tell reads no row
    counted = RowsReturned()
    with connection.execute_wrapper(counted):
        leader_trade_fills_notify(leader_trade_id=leader_trade.pk)
    assert counted.notice_rows() == [0]
    assert Notification.objects.filter(kind=FILLED).count() == 2


def test_the_pass_never_selects_the_exchange_accounts_keys(sim, strategy, follower, stranger):
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    run_engine()

    with CaptureQueriesContext(connection) as queries:
        leader_trade_fills_notify(leader_trade_id=leader_trade.pk)

    assert Notification.objects.filter(kind=FILLED).count() == 2
    assert queries.captured_queries
    for query in queries.captured_queries:
        for column in ("api_key", "api_secret", "api_passphrase"):
            assert column not in query["sql"]


def test_a_partial_fill_is_told_with_its_reason_in_words(sim, strategy, follower, stranger):
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    run_engine()
    row = CopiedTrade.objects.get(follower=follower)
    CopiedTrade.objects.filter(pk=row.pk).update(
        status=CopiedTrade.Status.PARTIALLY_FILLED, reason=CopiedTrade.Reason.PARTIAL_FILL, requested_amount=row.filled_amount * 2
    )

    leader_trade_fills_notify(leader_trade_id=leader_trade.pk)

    told = Notification.objects.get(user=follower, kind=FILLED)
    filled, requested = row.filled_amount.normalize(), (row.filled_amount * 2).normalize()
    assert told.body.endswith(f" USDT. The exchange filled {filled:f} of the {requested:f} requested.")


def test_a_follower_who_asked_for_mail_gets_one_per_fill_however_many_passes(
    sim, strategy, follower, stranger, django_capture_on_commit_callbacks
):
    notification_preferences_set(user=follower, choices={FILLED: (True, True)})
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    run_engine()

    with django_capture_on_commit_callbacks(execute=True):
        leader_trade_fills_notify(leader_trade_id=leader_trade.pk)
        leader_trade_fills_notify(leader_trade_id=leader_trade.pk)

    told = Notification.objects.get(user=follower, kind=FILLED)
    assert [message.subject for message in mail.outbox] == [told.title]
    assert [message.to for message in mail.outbox] == [[follower.email]]


def test_a_batch_that_meets_a_row_another_wrote_neither_counts_nor_mails_it(follower, django_capture_on_commit_callbacks):
    # given the notice written by an overlapping batch, after this one decided it was new
    notification_preferences_set(user=follower, choices={FILLED: (True, True)})
    notice = Notice(user_id=follower.pk, email=follower.email, group_key="fill:1:2", title="Copied", body="Bought 1 BTC/USDT")
    assert notifications_send_once(kind=FILLED, notices=[notice]) == 1

    # when this batch writes it too
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        new = notifications_send_once(kind=FILLED, notices=[notice])

    # then the one row stays, and nobody is mailed again
    assert new == 0
    assert Notification.objects.filter(user=follower, group_key="fill:1:2").count() == 1
    assert mail.outbox == []
