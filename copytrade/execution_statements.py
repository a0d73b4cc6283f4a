"""The fenced statements of one copied trade's execution: the load (with its pick-up mark),
the claim and the lease marks, and the fill's write (one statement, or under the copy's lock).

copytrade/services/execution.py tells the story and holds the rules (its module doc: the
fencing token, leases, exactly once); these functions only say them in SQL, one round trip
each. Every write here changes a row only while it is as the run holds it (the fill's
locked write: under the lock the caller took).
"""

import functools

from django.db import connection

from copytrade import rows
from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, Strategy
from exchanges.models import ExchangeAccount

# What a fill writes of the copy, of the copied trade and of the position.
COPY_FILL_FIELDS = ["realized_pnl", "copy_equity", "peak_equity", "current_drawdown_percent", "updated_at"]
TRADE_FILL_FIELDS = [
    "status",
    "reason",
    "filled_amount",
    "average_price",
    "fee",
    "quote_currency",
    "pnl_quote",
    "quote_rate",
    "pnl_billing",
    "follower_size_quote",
    "exchange_order_id",
    "acknowledged_at",
    "finished_at",
    "lease_expires_at",
    "delay_ms",
    "price_gap_bps",
]
POSITION_FILL_FIELDS = ["quantity", "average_entry", "realized_pnl", "updated_at"]
TAKEN_OVER = object()

# What the load selects of each model: the fields an execution reads (its checks, sizing,
# the order, the fill and its write, the log line, metrics and notifications), so that no
# field is fetched lazily per order (tests/copytrade/test_execution.py counts the
# statements). The rest (descriptions, webhook secrets, timestamps nobody reads here) was
# two thirds of the columns PostgreSQL sent and psycopg2 decoded per follower. A field
# added to a path of the execution is added here too; one missed costs a query, not a
# wrong value. The position is loaded whole (it is written whole when new).
LOAD_FIELDS = {
    CopiedTrade: tuple(
        """id copy leader_trade kind sequence follower strategy symbol side effect follower_size_quote
        requested_amount status reason reason_detail client_order_id attempts lease_expires_at recorded_at
        enqueued_at submitted_at acknowledged_at delay_ms price_gap_bps""".split()
    ),
    Copy: tuple(
        """id follower strategy exchange_account sizing_mode allocation_percent multiplier fixed_notional
        copy_capital max_drawdown_stop max_slippage_percent max_order_notional round_up_to_minimum
        leverage_policy leverage margin_mode symbol_list_mode symbol_list take_profit_percent
        stop_loss_percent max_open_positions max_exposure status pause_reason realized_pnl copy_equity
        peak_equity current_drawdown_percent""".split()
    ),
    ExchangeAccount: tuple("id owner exchange_id label api_key api_secret api_passphrase sandbox status status_reason".split()),
    Strategy: tuple("id owner name kind status accepting_copies quote_currency".split()),
    LeaderTrade: tuple(
        """id strategy sequence symbol side amount price notional leverage leader_equity effect reduce_fraction
        traded_at recorded_at""".split()
    ),
    FollowerPosition: None,
}


@functools.cache
def _load_sql() -> str:
    ct, rel, account, strategy, leader, position = CopiedTrade, Copy, ExchangeAccount, Strategy, LeaderTrade, FollowerPosition
    open_statuses = ", ".join(f"'{status}'" for status in CopiedTrade.OPEN)
    c = functools.partial(rows.column, ct)
    aliases = [(ct, "ct"), (rel, "r"), (account, "a"), (strategy, "s"), (leader, "lt"), (position, "p")]
    # The pick-up mark: a pending row nobody holds (no live lease, or this message is its
    # holder's) gets a lease now, in this statement. The SELECT reads the row as it was.
    pending = rows.unindexed(f"{c('status')} = 'pending'")
    pick_up = (
        f"UPDATE {rows.table(ct)} SET {c('lease_expires_at')} = %s WHERE {c('id')} = %s AND {pending} "
        f"AND ({c('lease_expires_at')} IS NULL OR {c('lease_expires_at')} < %s OR {c('attempts')} = %s)"
    )
    return f"""
        WITH picked_up AS ({pick_up})
        SELECT {", ".join(rows.select_list(model, alias, LOAD_FIELDS[model]) for model, alias in aliases)},
               EXISTS (SELECT 1 FROM {rows.table(ct)} e WHERE e.{rows.column(ct, "copy")} = ct.{rows.column(ct, "copy")}
                       AND e.{rows.column(ct, "sequence")} < ct.{rows.column(ct, "sequence")} AND e.{rows.column(ct, "status")} IN ({open_statuses}))
        FROM {rows.table(ct)} ct
        JOIN {rows.table(rel)} r ON r.{rows.column(rel, "id")} = ct.{rows.column(ct, "copy")}
        JOIN {rows.table(account)} a ON a.{rows.column(account, "id")} = r.{rows.column(rel, "exchange_account")}
        JOIN {rows.table(strategy)} s ON s.{rows.column(strategy, "id")} = ct.{rows.column(ct, "strategy")}
        LEFT JOIN {rows.table(leader)} lt ON lt.{rows.column(leader, "id")} = ct.{rows.column(ct, "leader_trade")}
        LEFT JOIN {rows.table(position)} p ON p.{rows.column(position, "copy")} = ct.{rows.column(ct, "copy")}
             AND p.{rows.column(position, "symbol")} = ct.{rows.column(ct, "symbol")}
        WHERE ct.{rows.column(ct, "id")} = %s
    """


def load(copied_trade_id: int, *, token: int | None, now, lease_expires_at) -> tuple[CopiedTrade, FollowerPosition | None, bool] | None:
    """(the copied trade with its copy, account, strategy and leader trade; the copy's
    position in the trade's symbol, None when it holds none yet; whether a copied trade of
    lower sequence of the same copy is still open), in one statement, which also leaves the
    pick-up mark (a lease until `lease_expires_at`) on a pending row nobody holds at `now`,
    or whose holder's `token` this is.

    Only fills of this copy write positions, one copied trade at a time (per-copy order), so
    when no earlier one is open the position is the one the order is sized from and its fill
    moves (the fill's write checks that, see `fill_write_at_once`)."""
    with connection.cursor() as cursor:
        rows.execute(cursor, _load_sql(), [lease_expires_at, copied_trade_id, now, -1 if token is None else token, copied_trade_id])
        row = cursor.fetchone()
    if row is None:
        return None
    parts, start = [], 0
    for model, names in LOAD_FIELDS.items():
        parts.append(row[start : start + rows.width(model, names)])
        start += rows.width(model, names)
    trade = rows.instance(CopiedTrade, parts[0], LOAD_FIELDS[CopiedTrade])
    copy = rows.instance(Copy, parts[1], LOAD_FIELDS[Copy])
    copy.exchange_account = rows.instance(ExchangeAccount, parts[2], LOAD_FIELDS[ExchangeAccount])
    trade.copy = copy
    trade.strategy = rows.instance(Strategy, parts[3], LOAD_FIELDS[Strategy])
    trade.leader_trade = rows.instance(LeaderTrade, parts[4], LOAD_FIELDS[LeaderTrade]) if trade.leader_trade_id is not None else None
    position = rows.instance(FollowerPosition, parts[5]) if parts[5][0] is not None else None
    return trade, position, bool(row[start])


def waiting_mark(trade: CopiedTrade) -> None:
    """Write the trade's `enqueued_at` and `lease_expires_at` while it is still pending at the
    `attempts` it was read with (a row waiting for its turn keeps its lease)."""
    c = functools.partial(rows.column, CopiedTrade)
    rows.update(
        trade,
        ["enqueued_at", "lease_expires_at"],
        where=f"{rows.unindexed(c('status') + ' = %s')} AND {c('attempts')} = %s",
        params=[CopiedTrade.Status.PENDING, trade.attempts],
    )


def _fence(trade: CopiedTrade, token: int | None) -> tuple[str, list]:
    """(condition, params) of a write this run may still make: it holds the claim `token`
    (executing at `attempts` == token), or, `token` None (before its first write), the row is
    still pending at the `attempts` it was read with."""
    c = functools.partial(rows.column, CopiedTrade)
    attempts, status = (trade.attempts, CopiedTrade.Status.PENDING) if token is None else (token, CopiedTrade.Status.EXECUTING)
    return f"{c('attempts')} = %s AND {rows.unindexed(c('status') + ' = %s')}", [attempts, status]


def _fenced_write(trade: CopiedTrade, fields: list[str], *, token: int | None) -> bool:
    """Write `fields` as `trade` holds them, fenced (`_fence`). Whether the row changed."""
    where, params = _fence(trade, token)
    return bool(rows.update(trade, fields, where=where, params=params))


def lease_write(trade: CopiedTrade, *, token: int | None) -> bool:
    """Write the trade's `lease_expires_at`, fenced: a renewal before an exchange call, a
    wait's lease, a release after an error (see execution.py, "Leases")."""
    return _fenced_write(trade, ["lease_expires_at"], token=token)


def submitted_mark(trade: CopiedTrade, *, token: int) -> bool:
    """Write the submitted mark and the order's size as `trade` holds them, fenced on the
    run's claim (a run that claimed the row before sizing it: the pending one's is
    `submitted_claim`)."""
    return _fenced_write(trade, ["submitted_at", "side", "requested_amount", "follower_size_quote", "reason"], token=token)


def resubmitted_mark(trade: CopiedTrade, *, token: int) -> bool:
    """Write `submitted_at` and `lease_expires_at`, fenced: the order is sent again."""
    return _fenced_write(trade, ["submitted_at", "lease_expires_at"], token=token)


def submitted_clear(trade: CopiedTrade, *, token: int) -> bool:
    """Write `submitted_at` (None: nothing reached the exchange), fenced."""
    return _fenced_write(trade, ["submitted_at"], token=token)


OUTCOME_FIELDS = ["status", "reason", "reason_detail", "finished_at", "lease_expires_at"]


def outcome_write(trade: CopiedTrade, *, token: int | None) -> bool:
    """Write a skip's or failure's outcome (`OUTCOME_FIELDS`) as `trade` holds it, fenced."""
    return _fenced_write(trade, OUTCOME_FIELDS, token=token)


def resync_fill_write(trade: CopiedTrade, *, token: int) -> bool:
    """Write a resync's fill (`TRADE_FILL_FIELDS`, already applied to `trade`), fenced: a
    resync moves neither the copy nor its position."""
    return _fenced_write(trade, TRADE_FILL_FIELDS, token=token)


def give_up(copied_trade_id: int, *, reason: str, now) -> bool:
    """Fail an open row whose order was never submitted (the retry budget ran out on errors
    that mean nothing was sent), with `reason`, finished `now`. Whether it was."""
    c = functools.partial(rows.column, CopiedTrade)
    sql = (
        f"UPDATE {rows.table(CopiedTrade)} SET {c('status')} = %s, {c('reason')} = %s, {c('finished_at')} = %s, "
        f"{c('lease_expires_at')} = NULL WHERE {c('id')} = %s AND {rows.unindexed(c('status') + ' IN (%s, %s)')} "
        f"AND {c('submitted_at')} IS NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [CopiedTrade.Status.FAILED, reason, now, copied_trade_id, *CopiedTrade.OPEN])
        return cursor.rowcount == 1


def claim(trade: CopiedTrade, *, continuing: bool, lease_expires_at, now) -> bool:
    """Compare-and-set on `attempts`: executing, one attempt more, leased until
    `lease_expires_at`, when the row is pending, or executing with a lease ended by `now` (or
    none), or executing and `continuing`. When it was, `trade` is refreshed to the row as
    the claim left it (what an earlier run wrote is what this one sees)."""
    c = functools.partial(rows.column, CopiedTrade)
    sql = (
        f"UPDATE {rows.table(CopiedTrade)} ct SET {c('status')} = %s, {c('attempts')} = {c('attempts')} + 1, {c('lease_expires_at')} = %s "
        f"WHERE {c('id')} = %s AND {c('attempts')} = %s AND "
        + rows.unindexed(
            f"{c('status')} = %s OR ({c('status')} = %s AND (%s OR {c('lease_expires_at')} IS NULL OR {c('lease_expires_at')} < %s))"
        )
        + " "
        f"RETURNING {rows.select_list(CopiedTrade, 'ct')}"
    )
    executing, pending = CopiedTrade.Status.EXECUTING, CopiedTrade.Status.PENDING
    with connection.cursor() as cursor:
        cursor.execute(sql, [executing, lease_expires_at, trade.pk, trade.attempts, pending, executing, continuing, now])
        row = cursor.fetchone()
    if row is None:
        return False
    rows.refresh(trade, row)
    return True


def submitted_claim(trade: CopiedTrade, *, claimed_from: int) -> bool:
    """Write the claim and the submitted mark as `trade` holds them (status, attempts, lease,
    the order's size) if the row is still pending at `claimed_from` attempts. Whether it was."""
    c = functools.partial(rows.column, CopiedTrade)
    changed = rows.update(
        trade,
        ["status", "attempts", "lease_expires_at", "submitted_at", "side", "requested_amount", "follower_size_quote", "reason"],
        where=f"{c('attempts')} = %s AND {rows.unindexed(c('status') + ' = %s')}",
        params=[claimed_from, CopiedTrade.Status.PENDING],
    )
    return bool(changed)


def fill_write_at_once(trade: CopiedTrade, copy: Copy, position: FollowerPosition, *, token: int, copy_was: list, position_was: list):
    """Write the fill, already applied to `trade`, `copy` and `position` (in memory),
    as one statement (autocommit: atomic by itself): the copy (with `status` and
    `max_drawdown_stop` as the write found them), `TAKEN_OVER` when this run no longer holds
    the row, or None when nothing was written because the copy's realised P&L, capital and
    peak (`copy_was`) or its position's quantity, average entry and realised P&L
    (`position_was`) are no longer the loaded ones (mark-to-market, a change of capital).

    The statement locks the copied trade (fenced on the run's token), then the copy only if
    its figures are still `copy_was` (PostgreSQL re-checks them on the row's newest version),
    writes the position only if it is still `position_was` (or inserts it, if it has no
    primary key), and writes copy and copied trade only if the position was written: all of
    it, or none of it. Same lock order as `lock_for_record`."""
    ct, rel, pos = CopiedTrade, Copy, FollowerPosition
    c, r, p = (functools.partial(rows.column, model) for model in (ct, rel, pos))
    fence = f"SELECT 1 FROM {rows.table(ct)} WHERE {c('id')} = %s AND {rows.unindexed(c('status') + ' = %s')} AND {c('attempts')} = %s FOR UPDATE"
    held = (
        f"SELECT 1 FROM {rows.table(rel)} WHERE {r('id')} = %s AND {r('realized_pnl')} = %s AND {r('copy_capital')} = %s "
        f"AND {r('peak_equity')} = %s AND EXISTS (SELECT 1 FROM fence) FOR UPDATE"
    )
    params = [trade.pk, CopiedTrade.Status.EXECUTING, token, copy.pk, *copy_was]
    if position.pk is None:
        columns, values = rows.insert_parts(position)
        position_sql = (
            f"INSERT INTO {rows.table(pos)} ({', '.join(columns)}) SELECT {', '.join(['%s'] * len(values))} "
            f"WHERE EXISTS (SELECT 1 FROM held) ON CONFLICT DO NOTHING"
        )
        params += values
    else:
        position_sql, position_params = rows.update_statement(
            position,
            POSITION_FILL_FIELDS,
            where=f"{p('quantity')} = %s AND {p('average_entry')} = %s AND {p('realized_pnl')} = %s AND EXISTS (SELECT 1 FROM held)",
            params=position_was,
        )
        params += position_params
    copy_sql, copy_params = rows.update_statement(copy, COPY_FILL_FIELDS, where="EXISTS (SELECT 1 FROM written_position)")
    trade_sql, trade_params = rows.update_statement(trade, TRADE_FILL_FIELDS, where="EXISTS (SELECT 1 FROM written_position)")
    params += copy_params + trade_params
    sql = (
        f"WITH fence AS ({fence}), held AS ({held}), written_position AS ({position_sql} RETURNING {p('id')}), "
        f"written_copy AS ({copy_sql} RETURNING {r('status')}, {r('max_drawdown_stop')}), written_trade AS ({trade_sql} RETURNING 1) "
        f"SELECT (SELECT count(*) FROM fence), (SELECT {p('id')} FROM written_position), (SELECT count(*) FROM written_trade), "
        f"written_copy.{r('status')}, written_copy.{r('max_drawdown_stop')} FROM (SELECT 1) AS one LEFT JOIN written_copy ON true"
    )
    with connection.cursor() as cursor:
        rows.execute(cursor, sql, params)
        fenced, position_id, trades_written, status, max_drawdown_stop = cursor.fetchone()
    if not fenced:
        return TAKEN_OVER
    if position_id is None:
        return None
    if trades_written != 1 or status is None:  # locked rows cannot vanish: a bug, loudly
        raise rows.FencedWriteLost(f"copied trade {trade.pk}: the fill wrote its position but not its copy or itself")
    position.pk = position_id
    position._state.adding = False
    copy.status, copy.max_drawdown_stop = status, max_drawdown_stop
    return copy


def lock_for_record(trade: CopiedTrade, *, token: int) -> Copy | None:
    """Lock the copied trade and its copy (in one statement); the copy, or None when this run
    no longer holds the claim (another run took the row over or recorded it)."""
    ct, rel = CopiedTrade, Copy
    sql = (
        f"SELECT ct.{rows.column(ct, 'status')}, ct.{rows.column(ct, 'attempts')}, {rows.select_list(rel, 'r')} "
        f"FROM {rows.table(ct)} ct JOIN {rows.table(rel)} r ON r.{rows.column(rel, 'id')} = ct.{rows.column(ct, 'copy')} "
        f"WHERE ct.{rows.column(ct, 'id')} = %s FOR UPDATE"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [trade.pk])
        row = cursor.fetchone()
    if row is None or row[0] != CopiedTrade.Status.EXECUTING or row[1] != token:
        return None
    return rows.instance(Copy, row[2:])


def copy_position(*, copy_id: int, symbol: str) -> FollowerPosition | None:
    """The copy's position in `symbol`, None when it holds none."""
    return rows.fetch_one(
        FollowerPosition,
        f"t.{rows.column(FollowerPosition, 'copy')} = %s AND t.{rows.column(FollowerPosition, 'symbol')} = %s",
        [copy_id, symbol],
    )


def fill_write_locked(trade: CopiedTrade, copy: Copy, position: FollowerPosition) -> None:
    """Write the fill, already applied in memory, under the copy's row lock (`lock_for_record`,
    in the caller's transaction): position, copy and copied trade by one statement, one round
    trip, not three."""
    rows.save(
        position,
        along_with=[
            rows.update_statement(copy, COPY_FILL_FIELDS),
            rows.update_statement(trade, TRADE_FILL_FIELDS),
        ],
    )
