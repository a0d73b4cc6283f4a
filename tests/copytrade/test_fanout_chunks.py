"""The fan-out's chunks (copytrade/services/fanout.py, "Fair across leaders"): each link
enqueues its places in order with one statement and knows from its message whether another
link follows; a link sent before messages carried the last place still finds its way."""

import base64
import json

import redis
from celery import current_app

from copytrade.models import CopiedTrade, LeaderTrade
from copytrade.services.fanout import leader_trade_fan_out
from tests.factories import CopyFactory, LeaderTradeFactory, StrategyFactory

CHUNK = 5
FOLLOWERS = 12


def _sent(queue: str) -> list[tuple[tuple, dict]]:
    """(args, kwargs) of the messages waiting in `queue` of the test broker, oldest first, taken off it."""
    client = redis.Redis.from_url(current_app.conf.broker_url)
    raw = list(reversed(client.lrange(queue, 0, -1)))
    client.delete(queue)
    return [tuple(json.loads(base64.b64decode(json.loads(message)["body"]))[:2]) for message in raw]


def _fanned_out(settings):
    settings.COPYTRADE_FANOUT_CHUNK = CHUNK
    strategy = StrategyFactory()
    for _ in range(FOLLOWERS):
        CopyFactory(strategy=strategy)
    trade = LeaderTradeFactory(strategy=strategy, sequence=1)
    leader_trade_fan_out(leader_trade_id=trade.pk)
    return trade


def _places(ids: list[int]) -> list[int]:
    place = dict(CopiedTrade.objects.filter(pk__in=ids).values_list("pk", "fanout_place"))
    return [place[row_id] for row_id in ids]


def test_each_link_enqueues_its_places_in_order_with_one_statement_and_the_last_marks_the_fan_out_done(
    db, settings, django_assert_num_queries
):
    trade = _fanned_out(settings)
    assert len(_sent("execution")) == CHUNK
    assert _sent("fanout") == [([trade.pk], {"after": CHUNK, "until": FOLLOWERS})]
    CopiedTrade.objects.filter(leader_trade=trade).update(enqueued_at=None)

    with django_assert_num_queries(1):
        second = leader_trade_fan_out(leader_trade_id=trade.pk, after=CHUNK, until=FOLLOWERS).copied_trade_ids

    assert _places(second) == [6, 7, 8, 9, 10]
    assert [args for args, _ in _sent("execution")] == [[row_id] for row_id in second]
    assert set(CopiedTrade.objects.filter(enqueued_at__isnull=False).values_list("pk", flat=True)) == set(second)
    assert _sent("fanout") == [([trade.pk], {"after": 10, "until": FOLLOWERS})]
    third = leader_trade_fan_out(leader_trade_id=trade.pk, after=10, until=FOLLOWERS).copied_trade_ids
    assert _places(third) == [11, 12]
    assert _sent("fanout") == []
    assert LeaderTrade.objects.get(pk=trade.pk).fanout_done_at is not None


def test_a_link_leaves_out_rows_no_longer_pending(db, settings):
    trade = _fanned_out(settings)
    taken = CopiedTrade.objects.get(leader_trade=trade, fanout_place=7)
    CopiedTrade.objects.filter(pk=taken.pk).update(status=CopiedTrade.Status.EXECUTING)

    second = leader_trade_fan_out(leader_trade_id=trade.pk, after=CHUNK, until=FOLLOWERS).copied_trade_ids

    assert _places(second) == [6, 8, 9, 10]


def test_a_link_sent_before_links_carried_the_last_place_asks_whether_places_remain(db, settings):
    trade = _fanned_out(settings)
    _sent("fanout")

    leader_trade_fan_out(leader_trade_id=trade.pk, after=CHUNK)
    assert _sent("fanout") == [([trade.pk], {"after": 10, "until": None})]
    leader_trade_fan_out(leader_trade_id=trade.pk, after=10)
    assert _sent("fanout") == []
    assert LeaderTrade.objects.get(pk=trade.pk).fanout_done_at is not None


def test_a_fan_out_run_again_after_a_copy_stopped_goes_on_to_the_last_place_of_any_row(db, settings):
    trade = _fanned_out(settings)
    last = CopiedTrade.objects.get(leader_trade=trade, fanout_place=FOLLOWERS)
    last.copy.status = last.copy.Status.STOPPED
    last.copy.save(update_fields=["status"])
    # the re-run (a redelivery, the sweeper) finds eleven eligible copies and the rows as they were
    LeaderTrade.objects.filter(pk=trade.pk).update(fanout_done_at=None)
    _sent("fanout")

    leader_trade_fan_out(leader_trade_id=trade.pk)

    assert _sent("fanout") == [([trade.pk], {"after": CHUNK, "until": FOLLOWERS})]
