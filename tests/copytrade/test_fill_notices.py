"""The fill-notice pass (copytrade/services/fill_notices.py) runs every few seconds while a
fan-out is open: what it reads must be what is left to tell, never the exchange account's
keys, and a notice already written is neither written nor mailed again."""

import threading
import time
from decimal import Decimal

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from copytrade.models import CopiedTrade
from copytrade.services.copies import copy_start
from copytrade.services.execution import copied_trade_execute
from copytrade.services.fanout import leader_trade_fan_out
from copytrade.services.fill_notices import leader_trade_fills_notify
from core.models import GroupedMail, Notification
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


def test_a_follower_who_turned_the_app_off_but_asked_for_mail_gets_one_mail_however_many_passes(
    sim, strategy, follower, stranger, django_capture_on_commit_callbacks
):
    # given a follower who wants fills by email and not in the app, one copy filled, one open
    notification_preferences_set(user=follower, choices={FILLED: (False, True)})
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    copied_trade_execute(copied_trade_id=CopiedTrade.objects.get(follower=follower).pk)

    # when passes run while the fan-out is open, and after
    with django_capture_on_commit_callbacks(execute=True):
        assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is True
        assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is True
        run_engine()
        counted = RowsReturned()
        with connection.execute_wrapper(counted):
            assert leader_trade_fills_notify(leader_trade_id=leader_trade.pk) is False
        leader_trade_fills_notify(leader_trade_id=leader_trade.pk)

    # then one mail, nothing shown in the app, and the later passes read only the copy not yet told
    assert [message.to for message in mail.outbox] == [[follower.email]]
    assert mail.outbox[0].subject.startswith("Copied: the buy of ")
    assert not Notification.objects.filter(user=follower).exclude(kind=Notification.Kind.COPY_STARTED).exists()
    assert counted.notice_rows() == [1]
    assert Notification.objects.filter(user=stranger, kind=FILLED).count() == 1


def test_a_follower_who_wants_fills_in_the_app_and_by_mail_gets_one_of_each(
    sim, strategy, follower, stranger, django_capture_on_commit_callbacks
):
    notification_preferences_set(user=follower, choices={FILLED: (True, True)})
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    run_engine()

    with django_capture_on_commit_callbacks(execute=True):
        for _ in range(3):
            leader_trade_fills_notify(leader_trade_id=leader_trade.pk)

    told = Notification.objects.get(user=follower, kind=FILLED)
    assert [(message.subject, message.to) for message in mail.outbox] == [(told.title, [follower.email])]


def test_a_follower_who_wants_fills_neither_in_the_app_nor_by_mail_is_told_nothing_and_not_read_again(
    sim, strategy, follower, stranger, django_capture_on_commit_callbacks
):
    notification_preferences_set(user=follower, choices={FILLED: (False, False)})
    notification_preferences_set(user=stranger, choices={FILLED: (False, False)})
    leader_trade = _two_copies_of_one_trade(sim, strategy, follower, stranger)
    run_engine()

    with django_capture_on_commit_callbacks(execute=True):
        leader_trade_fills_notify(leader_trade_id=leader_trade.pk)
        counted = RowsReturned()
        with connection.execute_wrapper(counted):
            leader_trade_fills_notify(leader_trade_id=leader_trade.pk)

    assert not Notification.objects.filter(kind=FILLED).exists()
    assert mail.outbox == []
    assert counted.notice_rows() == [0]


def test_a_rerun_of_a_batch_mails_a_follower_who_turned_the_app_off_once(follower, django_capture_on_commit_callbacks):
    notification_preferences_set(user=follower, choices={FILLED: (False, True)})
    notice = Notice(user_id=follower.pk, email=follower.email, group_key="fill:1:2", title="Copied", body="Bought 1 BTC/USDT")

    with django_capture_on_commit_callbacks(execute=True):
        first = notifications_send_once(kind=FILLED, notices=[notice])
        second = notifications_send_once(kind=FILLED, notices=[notice])

    assert (first, second) == (1, 0)
    assert [message.to for message in mail.outbox] == [[follower.email]]
    assert not Notification.objects.filter(user=follower).exists()


def test_a_notice_shown_then_rerun_after_the_app_was_turned_off_is_not_mailed_again(follower, django_capture_on_commit_callbacks):
    # given a notice shown and mailed
    notification_preferences_set(user=follower, choices={FILLED: (True, True)})
    notice = Notice(user_id=follower.pk, email=follower.email, group_key="fill:1:2", title="Copied", body="Bought 1 BTC/USDT")
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_send_once(kind=FILLED, notices=[notice]) == 1

    # when the follower turns the app off and the batch runs again
    notification_preferences_set(user=follower, choices={FILLED: (False, True)})
    with django_capture_on_commit_callbacks(execute=True):
        assert notifications_send_once(kind=FILLED, notices=[notice]) == 0

    # then it was mailed once, and its one row stays
    assert len(mail.outbox) == 1
    assert Notification.objects.filter(user=follower, group_key="fill:1:2").count() == 1


def _backend_waiting_on_a_lock(pid: int) -> bool:
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
        row = cursor.fetchone()
    return row is not None and row[0] == "Lock"


@pytest.mark.django_db(transaction=True)
def test_two_overlapping_batches_mail_a_follower_who_turned_the_app_off_once(follower):
    # given a batch that wrote the notice and has not committed yet
    notification_preferences_set(user=follower, choices={FILLED: (False, True)})
    notice = Notice(user_id=follower.pk, email=follower.email, group_key="fill:1:2", title="Copied", body="Bought 1 BTC/USDT")
    first_wrote, commit_first, results, pids = threading.Event(), threading.Event(), {}, {}

    def first_batch():
        try:
            with transaction.atomic():
                results["first"] = notifications_send_once(kind=FILLED, notices=[notice])
                first_wrote.set()
                assert commit_first.wait(timeout=30)
        finally:
            connection.close()

    def second_batch():
        try:
            pids["second"] = connection.cursor().connection.info.backend_pid
            with transaction.atomic():
                results["second"] = notifications_send_once(kind=FILLED, notices=[notice])
        finally:
            connection.close()

    first = threading.Thread(target=first_batch)
    first.start()
    assert first_wrote.wait(timeout=30)

    # when an overlapping batch of the same notice meets it, then the first commits
    second = threading.Thread(target=second_batch)
    second.start()
    deadline = time.monotonic() + 30
    while not ("second" in pids and _backend_waiting_on_a_lock(pids["second"])):
        assert time.monotonic() < deadline, "the second batch never waited on the first's insert"
        assert second.is_alive(), "the second batch did not wait for the first"
        time.sleep(0.01)
    commit_first.set()
    first.join(timeout=30)
    second.join(timeout=30)

    # then one of them counted it and one mail went
    assert results == {"first": 1, "second": 0}
    assert [message.to for message in mail.outbox] == [[follower.email]]
    assert GroupedMail.objects.filter(user=follower, group_key="fill:1:2").count() == 1
