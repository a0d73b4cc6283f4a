"""The one place copytrade's services lock more than one row, always in the documented
order (core.locks): the user row, then strategies (by id), then copies (by id).

A copy is reached through its strategy: to lock a copy, lock its strategy first, even when
only the copy changes, because what follows may need the strategy (a close at market takes
the strategy's next sequence numbers). Two services locking in opposite orders deadlock;
PostgreSQL breaks the tie by failing one of them (a 500 for a person stopping a copy).

The fill path of execution locks a copied trade and its copy without the strategy; it must
never take the strategy afterwards in the same transaction (a stop-loss found while
recording a fill runs after commit, through `copy_stop_loss_check`).
"""

from copytrade.models import Copy, Strategy


def copy_lock(*, copy_id: int, follower_id: int | None = None) -> Copy | None:
    """Lock the copy's strategy, then the copy; the copy (its strategy and account loaded), or
    None when there is no such copy (of that follower)."""
    copies = Copy.objects.filter(pk=copy_id)
    if follower_id is not None:
        copies = copies.filter(follower_id=follower_id)
    strategy_id = copies.values_list("strategy_id", flat=True).first()  # a copy never changes strategy
    if strategy_id is None:
        return None
    strategies_lock(strategy_ids=[strategy_id])
    return copies.select_for_update(of=("self",)).select_related("strategy", "exchange_account").first()


def strategies_lock(*, strategy_ids) -> list[int]:
    """Lock these strategies in id order; the ids that exist."""
    # NO KEY UPDATE: rows that refer to a strategy (copied trades of a fan-out) can still be inserted.
    return list(
        Strategy.objects.select_for_update(no_key=True).filter(id__in=list(strategy_ids)).order_by("id").values_list("id", flat=True)
    )


def strategies_and_copies_lock(*, strategy_ids, copy_statuses) -> tuple[list[int], list[tuple[int, int, str]]]:
    """Lock the strategies, then their copies in these statuses (both in id order): the
    strategy ids, and (copy id, follower id, status) of each copy."""
    locked = strategies_lock(strategy_ids=strategy_ids)
    copies = list(
        Copy.objects.select_for_update()
        .filter(strategy_id__in=locked, status__in=copy_statuses)
        .order_by("id")
        .values_list("id", "follower_id", "status")
    )
    return locked, copies
