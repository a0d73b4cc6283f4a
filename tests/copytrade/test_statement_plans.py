"""The execution's statements find their copied trade by primary key (the fan-out's by
leader trade and place, the sweeper's take-back by the open rows it chose), never through the partial index of open rows
(`copied_trade_open_by_copy`), whatever the planner believes of it.

That index looks empty to the planner whenever the table was last analysed between fan-outs
(nearly always, in production as in the benchmark); a statement saying `id = X AND status =
'pending'` qualifies for it, and PostgreSQL chose it over the primary key at the same
estimated cost, then read every open row's entry to find one id: during a fan-out of N
followers each pick-up read up to N entries (copytrade.rows.unindexed)."""

import datetime

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from copytrade import execution_statements, rows
from copytrade.models import CopiedTrade
from copytrade.services import fanout, sweeper

OPEN_INDEX = "copied_trade_open_by_copy"


@pytest.fixture(autouse=True)
def history(db):
    _history()
    yield
    # gone before the test's end checks the deferred foreign keys (they point nowhere)
    CopiedTrade.objects.filter(client_order_id__startswith="history-").delete()


def _history(count: int = 3000) -> None:
    """`count` filled copied trades pointing at no copy or leader trade (foreign keys are
    deferred: the fixture deletes them before the test's end checks): a table of some size
    whose open rows are none, as between fan-outs."""
    CopiedTrade.objects.bulk_create(
        CopiedTrade(
            copy_id=index,
            leader_trade_id=index,
            sequence=1,
            follower_id=index,
            leader_user_id=1,
            strategy_id=1,
            symbol="BTC/USDT",
            side="buy",
            effect="open",
            client_order_id=f"history-{index}",
            status=CopiedTrade.Status.FILLED,
            fanout_place=1,
        )
        for index in range(1, count + 1)
    )


def _plan(sql: str, params: list | dict) -> str:
    """EXPLAIN of `sql` with its values written in (as an unprepared statement is planned:
    a custom plan for these values), the table analysed while no row is open."""
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {rows.table(CopiedTrade)}")
        cursor.execute("EXPLAIN " + cursor.mogrify(sql, params).decode())
        return "\n".join(line for (line,) in cursor.fetchall())


def _node_under(plan: str, header: str) -> str:
    """The line after `header`'s: the scan a write or a lock reads its rows by."""
    lines = plan.splitlines()
    index = next(i for i, line in enumerate(lines) if header in line)
    return lines[index + 1]


NOW = datetime.datetime(2026, 12, 7, tzinfo=datetime.UTC)


@pytest.mark.django_db
def test_the_load_s_pick_up_mark_finds_its_row_by_primary_key():
    plan = _plan(execution_statements._load_sql(), [NOW, 1, NOW, -1, 1])
    assert "copytrade_copiedtrade_pkey" in _node_under(plan, "Update on copytrade_copiedtrade"), plan
    # the earlier-open check is what the partial index is for
    assert OPEN_INDEX in plan


def _assert_updates_find_their_row_by_primary_key(queries, *, count: int) -> None:
    statements = [query["sql"] for query in queries.captured_queries if query["sql"].startswith("UPDATE")]
    assert len(statements) == count
    for sql in statements:
        plan = _plan(sql.replace("%", "%%"), [])
        assert OPEN_INDEX not in plan and "copytrade_copiedtrade_pkey" in plan, (sql, plan)


@pytest.mark.django_db
def test_the_claims_find_their_row_by_primary_key_also_when_statements_are_not_prepared(settings):
    """Behind PgBouncer (DATABASE_PREPARED_STATEMENTS off) every statement is planned for its
    values, its status among them: the case the partial index could be chosen in."""
    settings.DATABASE_PREPARED_STATEMENTS = False
    trade = CopiedTrade(pk=10**9, attempts=0, status=CopiedTrade.Status.PENDING)  # no such row: the writes change nothing
    with CaptureQueriesContext(connection) as queries:
        execution_statements.claim(trade, continuing=False, lease_expires_at=NOW, now=NOW)
        execution_statements.submitted_claim(trade, claimed_from=0)
        execution_statements.waiting_mark(trade)
    _assert_updates_find_their_row_by_primary_key(queries, count=3)


@pytest.mark.django_db
def test_the_fenced_writes_find_their_row_by_primary_key_also_when_statements_are_not_prepared(settings):
    """Lease renewals, waits and releases, the submitted marks, an outcome, a resync's fill and
    a give-up: each of a run's writes that says which status the row must be in."""
    settings.DATABASE_PREPARED_STATEMENTS = False
    trade = CopiedTrade(pk=10**9, attempts=0, status=CopiedTrade.Status.SKIPPED, submitted_at=NOW, lease_expires_at=NOW)
    with CaptureQueriesContext(connection) as queries:
        for token in (None, 1):
            execution_statements.lease_write(trade, token=token)
            execution_statements.outcome_write(trade, token=token)
        execution_statements.submitted_mark(trade, token=1)
        execution_statements.resubmitted_mark(trade, token=1)
        execution_statements.submitted_clear(trade, token=1)
        execution_statements.resync_fill_write(trade, token=1)
        execution_statements.give_up(trade.pk, reason=CopiedTrade.Reason.EXCHANGE_UNAVAILABLE, now=NOW)
    _assert_updates_find_their_row_by_primary_key(queries, count=9)


@pytest.mark.django_db
def test_the_sweeper_takes_back_the_open_rows_it_chose_by_primary_key():
    """The open rows' index chooses them (what it is for); the update then finds each by its id,
    not by reading every open row again per row chosen."""
    plan = _plan(sweeper._take_back_sql(), {"now": NOW, "cutoff": NOW, "batch": 500})
    assert plan.count(OPEN_INDEX) == 1 and "copytrade_copiedtrade_pkey" in plan, plan


@pytest.mark.django_db
def test_a_fan_out_link_finds_its_rows_by_leader_trade_and_place():
    plan = _plan(fanout._chunk_sql(), [NOW, 1, 0, 50])
    assert OPEN_INDEX not in plan and "copied_trade_by_fanout_place" in plan, plan
