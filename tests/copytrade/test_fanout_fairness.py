"""The fan-out's order is fair: no follower is systematically first or last (issue 17)."""

from statistics import mean

from copytrade.models import CopiedTrade
from copytrade.services.fanout import leader_trade_fan_out
from tests.factories import CopyFactory, LeaderTradeFactory, StrategyFactory

FOLLOWERS = 40
TRADES = 10


def _ranks(leader_trade) -> dict[int, int]:
    """Each copy's place in the order its copied trade was enqueued (ids are given in that order)."""
    ids = CopiedTrade.objects.filter(leader_trade=leader_trade).order_by("id").values_list("copy_id", flat=True)
    return {copy_id: rank for rank, copy_id in enumerate(ids)}


def test_each_leader_trade_sends_its_followers_in_a_new_order_that_favours_nobody(db):
    strategy = StrategyFactory()
    copies = [CopyFactory(strategy=strategy) for _ in range(FOLLOWERS)]
    trades = [LeaderTradeFactory(strategy=strategy, sequence=number) for number in range(1, TRADES + 1)]

    ranks = []
    for trade in trades:
        assert len(leader_trade_fan_out(leader_trade_id=trade.pk).copied_trade_ids) == FOLLOWERS
        ranks.append(_ranks(trade))

    # Enqueued by copy id, copy 1 was first on every trade and its mean place 0 (spread 39).
    firsts = {min(order, key=order.get) for order in ranks}
    assert len(firsts) > 1, "the same follower went first on every trade"
    mean_rank = {copy.pk: mean(order[copy.pk] for order in ranks) for copy in copies}
    assert max(mean_rank.values()) - min(mean_rank.values()) < 0.75 * (FOLLOWERS - 1)


def test_a_fan_out_run_again_sends_in_the_same_order(db):
    strategy = StrategyFactory()
    for _ in range(12):
        CopyFactory(strategy=strategy)
    trade = LeaderTradeFactory(strategy=strategy, sequence=1)

    leader_trade_fan_out(leader_trade_id=trade.pk)
    first = _ranks(trade)
    CopiedTrade.objects.filter(leader_trade=trade).delete()
    trade.fanout_done_at = None
    trade.save(update_fields=["fanout_done_at"])
    leader_trade_fan_out(leader_trade_id=trade.pk)

    assert _ranks(trade) == first
