"""/api/copy-trading/: start, stop, pause, resume and change copies; my-copies, leader page,
copied trades and the leaderboard."""

import threading
import uuid
from datetime import date
from decimal import Decimal

import pytest
from django.db import connection
from django.db.models import Sum
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from copytrade.models import CopiedTrade, Copy, FollowerPosition, LeaderTrade, Strategy
from copytrade.services.copies import copy_start
from copytrade.services.strategies import strategy_update
from core.models import Notification
from core.selectors import display_name
from tests.copytrade import paper_account, record_fan_outs, signal_only_strategy, simulator_account, submit
from tests.factories import SignalProviderFactory

BASE = "/api/copy-trading"


@pytest.fixture
def strategy(owner, simulated_binance):
    return signal_only_strategy(owner)


@pytest.fixture
def account(follower, simulated_binance):
    return paper_account(follower, usdt="10000")


def _start(client, strategy, account, **fields):
    payload = {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": "25", **fields}
    return client.post(f"{BASE}/start", {key: value for key, value in payload.items() if value is not None}, format="json")


def _copy(follower, strategy, account, **fields) -> Copy:
    fields.setdefault("allocation_percent", Decimal("25"))
    return copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, **fields)


# --- start -----------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_starts_a_proportional_copy_with_its_share_of_the_followers_equity(client_for, follower, strategy, account):
    response = _start(client_for(follower), strategy, account, max_drawdown_stop="20", max_slippage_percent="0.5")

    assert response.status_code == 201, response.json()
    body = response.json()
    copy = Copy.objects.get()
    assert body["id"] == copy.pk
    assert (body["sizing_mode"], body["status"], body["strategy"]["id"], body["exchange_account"]["id"]) == (
        "proportional",
        "active",
        strategy.pk,
        account.pk,
    )
    assert Decimal(body["copy_capital"]) == Decimal("2500") == copy.copy_capital
    assert copy.copy_equity == copy.peak_equity == Decimal("2500")
    assert (copy.max_drawdown_stop, copy.max_slippage_percent) == (Decimal("20"), Decimal("0.5"))
    assert copy.started_at is not None and copy.ended_at is None
    strategy.refresh_from_db()
    assert strategy.copiers_count == 1


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("fields", "column", "value"),
    [
        ({"sizing_mode": "multiplier", "allocation_percent": None, "multiplier": "0.5"}, "multiplier", Decimal("0.5")),
        ({"sizing_mode": "fixed", "allocation_percent": None, "fixed_notional_usd": "150"}, "fixed_notional", Decimal("150")),
    ],
)
def test_it_starts_a_multiplier_or_fixed_copy_measured_against_the_whole_equity(
    client_for, follower, strategy, account, fields, column, value
):
    response = _start(client_for(follower), strategy, account, max_order_notional_usd="1000", **fields)

    assert response.status_code == 201, response.json()
    copy = Copy.objects.get()
    assert getattr(copy, column) == value
    assert copy.allocation_percent is None
    assert copy.copy_capital == Decimal("10000")
    assert copy.max_order_notional == Decimal("1000")
    assert Decimal(response.json()["max_order_notional_usd"]) == Decimal("1000")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"allocation_percent": None},
        {"allocation_percent": "0"},
        {"allocation_percent": "-5"},
        {"allocation_percent": "100.01"},
        {"allocation_percent": "101"},
        {"allocation_percent": "NaN"},
        {"allocation_percent": "abc"},
        {"allocation_percent": "25", "multiplier": "2"},
        {"sizing_mode": "multiplier", "allocation_percent": None},
        {"sizing_mode": "multiplier", "allocation_percent": None, "multiplier": "0"},
        {"sizing_mode": "multiplier", "allocation_percent": None, "multiplier": "-1"},
        {"sizing_mode": "fixed", "allocation_percent": None, "fixed_notional_usd": "0"},
        {"sizing_mode": "fixed", "allocation_percent": None, "multiplier": "1"},
        {"sizing_mode": "martingale"},
        {"max_drawdown_stop": "0"},
        {"max_drawdown_stop": "100.5"},
        {"max_slippage_percent": "-1"},
        {"max_slippage_percent": "51"},
        {"max_order_notional_usd": "0"},
        {"max_order_notional_usd": "-10"},
        {"strategy_id": "abc"},
        {"strategy_id": None},
        {"exchange_account_id": 0},
        {"leverage": "10"},
        {"copy_capital": "1000000"},
    ],
)
def test_it_refuses_invalid_start_input_with_400_and_starts_nothing(client_for, follower, strategy, account, fields):
    response = _start(client_for(follower), strategy, account, **fields)

    assert response.status_code == 400, response.json()
    assert set(response.json()) == {"message", "extra"}
    assert Copy.objects.count() == 0
    strategy.refresh_from_db()
    assert strategy.copiers_count == 0


@pytest.mark.django_db
def test_a_sizing_error_names_the_field_of_the_request(client_for, follower, strategy, account):
    response = _start(client_for(follower), strategy, account, sizing_mode="multiplier", allocation_percent=None, fixed_notional_usd="5")

    assert response.status_code == 400
    assert list(response.json()["extra"]["fields"]) == ["multiplier"]
    mixed = _start(client_for(follower), strategy, account, fixed_notional_usd="5")
    assert list(mixed.json()["extra"]["fields"]) == ["fixed_notional_usd"]


@pytest.mark.django_db
def test_it_refuses_an_allocation_that_would_take_one_accounts_copies_past_100_percent(client_for, owner, follower, strategy, account):
    other = signal_only_strategy(owner, name="Other")
    assert _start(client_for(follower), strategy, account, allocation_percent="60").status_code == 201

    refused = _start(client_for(follower), other, account, allocation_percent="41")
    accepted = _start(client_for(follower), other, account, allocation_percent="40")

    assert refused.status_code == 400
    assert refused.json()["message"] == (
        "Allocation would reach 101.00% of exchange account 'Paper': its live copies already use 60.00% and the copies "
        "on one account may not exceed 100% of it. Choose at most 40.00%, or another account."
    )
    assert refused.json()["extra"] == {"allocated_percent": "60.00", "available_percent": "40.00", "exchange_account_id": account.pk}
    assert accepted.status_code == 201
    assert Copy.objects.aggregate(total=Sum("allocation_percent"))["total"] == Decimal("100")


@pytest.mark.django_db
def test_a_real_and_a_paper_account_can_each_be_used_in_full(client_for, owner, follower, strategy, account, simulated_binance):
    # given a real (simulated Binance) account beside the paper one
    real = simulator_account(simulated_binance, follower, usdt="5000")
    other = signal_only_strategy(owner, name="Other")
    third = signal_only_strategy(owner, name="Third")
    client = client_for(follower)

    # when each account gets copies of 100 % of it
    on_paper = _start(client, strategy, account, allocation_percent="100")
    on_real = _start(client, other, real, allocation_percent="100")
    # and a further 1 % on the real one
    over = _start(client, third, real, allocation_percent="1")

    # then both accounts are used in full, and the 101st percent of one is refused with its name
    assert (on_paper.status_code, on_real.status_code) == (201, 201), (on_paper.json(), on_real.json())
    assert (Decimal(on_paper.json()["copy_capital"]), Decimal(on_real.json()["copy_capital"])) == (Decimal("10000"), Decimal("5000"))
    assert over.status_code == 400
    assert "101.00% of exchange account 'Binance'" in over.json()["message"]
    assert not Copy.objects.filter(strategy=third).exists()


@pytest.mark.django_db
def test_raising_a_copys_allocation_counts_only_the_copies_on_its_own_account(client_for, owner, follower, strategy, account):
    second = paper_account(follower, label="Second paper")
    mine = _copy(follower, strategy, account, allocation_percent=Decimal("50"))
    _copy(follower, signal_only_strategy(owner, name="Beside"), account, allocation_percent=Decimal("20"))
    _copy(follower, signal_only_strategy(owner, name="Elsewhere"), second, allocation_percent=Decimal("90"))
    client = client_for(follower)

    too_far = client.patch(f"{BASE}/copies/{mine.pk}", {"allocation_percent": "81"}, format="json")
    raised = client.patch(f"{BASE}/copies/{mine.pk}", {"allocation_percent": "80"}, format="json")

    assert too_far.status_code == 400
    assert "its live copies already use 20.00%" in too_far.json()["message"]
    assert raised.status_code == 200, raised.json()
    assert Decimal(raised.json()["allocation_percent"]) == Decimal("80")


@pytest.mark.django_db
def test_it_frees_the_allocation_of_a_stopped_copy(client_for, owner, follower, strategy, account):
    other = signal_only_strategy(owner, name="Other")
    first = _copy(follower, strategy, account, allocation_percent=Decimal("80"))
    client_for(follower).post(f"{BASE}/stop", {"copy_id": first.pk}, format="json")

    assert _start(client_for(follower), other, account, allocation_percent="90").status_code == 201


@pytest.mark.django_db
def test_it_refuses_a_second_live_copy_of_the_same_strategy_and_allows_one_after_a_stop(client_for, follower, strategy, account):
    client = client_for(follower)
    first = _start(client, strategy, account).json()

    duplicate = _start(client, strategy, account)
    client.post(f"{BASE}/stop", {"copy_id": first["id"]}, format="json")
    again = _start(client, strategy, account)

    assert duplicate.status_code == 409
    assert again.status_code == 201
    assert list(Copy.objects.order_by("id").values_list("status", flat=True)) == ["stopped", "active"]
    strategy.refresh_from_db()
    assert strategy.copiers_count == 1


@pytest.mark.django_db
def test_it_refuses_to_copy_a_strategy_that_is_private_paused_closed_or_ones_own(client_for, owner, follower, stranger, account):
    private = signal_only_strategy(owner, name="Private", public=False)
    paused = signal_only_strategy(owner, name="Paused")
    strategy_update(owner=owner, strategy_id=paused.pk, data={"status": "paused"})
    closed = signal_only_strategy(owner, name="Closed")
    Strategy.objects.filter(pk=closed.pk).update(accepting_copies=False)
    own = signal_only_strategy(follower, name="Own")

    answers = {
        name: _start(client_for(follower), target, account).status_code
        for name, target in (("private", private), ("paused", paused), ("closed", closed), ("own", own))
    }

    assert answers == {"private": 404, "paused": 409, "closed": 409, "own": 400}
    assert Copy.objects.count() == 0


@pytest.mark.django_db
def test_it_does_not_copy_onto_someone_elses_account(client_for, follower, stranger, strategy):
    theirs = paper_account(stranger)

    response = _start(client_for(follower), strategy, theirs)

    assert response.status_code == 404
    assert Copy.objects.count() == 0


@pytest.mark.django_db
def test_it_refuses_a_copy_on_an_account_without_equity(client_for, follower, strategy, simulated_binance):
    empty = simulator_account(simulated_binance, follower, label="Empty", usdt="0")

    response = _start(client_for(follower), strategy, empty)

    assert response.status_code == 400
    assert "equity" in response.json()["message"]


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_never_allocate_more_than_100_percent(owner, follower, simulated_binance):
    strategies = [signal_only_strategy(owner, name=f"S{index}") for index in range(4)]
    account = paper_account(follower)
    barrier = threading.Barrier(len(strategies))
    outcomes: list[str] = []

    def start(strategy):
        try:
            barrier.wait(timeout=10)
            _copy(follower, strategy, account, allocation_percent=Decimal("40"))
            outcomes.append("started")
        except Exception as exc:  # noqa: BLE001 - each refusal is one outcome
            outcomes.append(type(exc).__name__)
        finally:
            connection.close()

    threads = [threading.Thread(target=start, args=(strategy,)) for strategy in strategies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(outcomes) == ["ApplicationError", "ApplicationError", "started", "started"]
    live = Copy.objects.filter(follower=follower, status__in=Copy.LIVE_STATUSES)
    assert live.aggregate(total=Sum("allocation_percent"))["total"] == Decimal("80")
    assert Strategy.objects.aggregate(total=Sum("copiers_count"))["total"] == 2


@pytest.mark.django_db(transaction=True)
def test_concurrent_allocation_changes_never_exceed_100_percent(client_for, owner, follower, simulated_binance):
    account = paper_account(follower)
    copies = [_copy(follower, signal_only_strategy(owner, name=f"S{i}"), account, allocation_percent=Decimal("20")) for i in range(3)]
    barrier = threading.Barrier(len(copies))
    answers: list[int] = []

    def raise_to_40(copy):
        try:
            barrier.wait(timeout=10)
            response = client_for(follower).patch(f"{BASE}/copies/{copy.pk}", {"allocation_percent": "40"}, format="json")
            answers.append(response.status_code)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_to_40, args=(copy,)) for copy in copies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)

    assert sorted(answers) == [200, 200, 400]  # 40 + 40 + 20 fits; a third 40 would not
    assert Copy.objects.aggregate(total=Sum("allocation_percent"))["total"] == Decimal("100")


# --- stop, pause, resume, change -------------------------------------------------------


@pytest.mark.django_db
def test_it_stops_a_copy_for_good_and_keeps_it_as_history(client_for, follower, strategy, account):
    copy = _copy(follower, strategy, account)
    client = client_for(follower)

    response = client.post(f"{BASE}/stop", {"copy_id": copy.pk}, format="json")
    again = client.post(f"{BASE}/stop", {"copy_id": copy.pk}, format="json")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "stopped"
    copy.refresh_from_db()
    assert copy.status == "stopped" and copy.ended_at is not None
    strategy.refresh_from_db()
    assert strategy.copiers_count == 0
    assert again.status_code == 409
    assert client.get(f"{BASE}/my-copies").json()["count"] == 0
    assert client.get(f"{BASE}/my-copies", {"include_stopped": "true"}).json()["count"] == 1


@pytest.mark.django_db
def test_it_asks_execution_to_close_the_positions_when_stopping_with_close_positions(client_for, follower, strategy, account, monkeypatch):
    copy = _copy(follower, strategy, account)
    calls = []
    monkeypatch.setattr("copytrade.services.copies.copy_close_positions", lambda **kwargs: calls.append(kwargs) or [101])

    response = client_for(follower).post(f"{BASE}/stop", {"copy_id": copy.pk, "close_positions": True}, format="json")

    assert response.status_code == 200, response.json()
    assert calls == [{"copy_id": copy.pk, "kind": CopiedTrade.Kind.CLOSE_ON_STOP}]
    told = Notification.objects.get(user=follower, kind=Notification.Kind.COPY_CLOSED)
    assert told.title == f"You stopped your copy of {strategy.name}; its positions are being closed"
    assert told.body.startswith("1 position(s) are being sold or bought back at market")


@pytest.mark.django_db
def test_it_pauses_and_resumes_a_copy(client_for, follower, strategy, account):
    copy = _copy(follower, strategy, account)
    client = client_for(follower)

    paused = client.post(f"{BASE}/pause", {"copy_id": copy.pk}, format="json")
    paused_again = client.post(f"{BASE}/pause", {"copy_id": copy.pk}, format="json")
    resumed = client.post(f"{BASE}/resume", {"copy_id": copy.pk}, format="json")
    resumed_again = client.post(f"{BASE}/resume", {"copy_id": copy.pk}, format="json")

    assert (paused.status_code, paused.json()["status"], paused.json()["pause_reason"]) == (200, "paused", "follower")
    assert paused.json()["pause_reason_text"] == "you paused it"
    assert paused_again.status_code == 409
    assert (resumed.status_code, resumed.json()["status"], resumed.json()["pause_reason"]) == (200, "active", "")
    assert resumed_again.status_code == 409


@pytest.mark.django_db
def test_it_resumes_after_a_stop_loss_measuring_drawdown_from_the_current_equity(client_for, follower, strategy, account):
    copy = _copy(follower, strategy, account)
    Copy.objects.filter(pk=copy.pk).update(
        status="paused",
        pause_reason=Copy.PauseReason.STOP_LOSS,
        copy_equity=Decimal("1750"),
        current_drawdown_percent=Decimal("30"),
    )

    response = client_for(follower).post(f"{BASE}/resume", {"copy_id": copy.pk}, format="json")

    assert response.status_code == 200
    copy.refresh_from_db()
    assert (copy.peak_equity, copy.current_drawdown_percent) == (Decimal("1750"), 0)


@pytest.mark.django_db
def test_it_refuses_to_pause_resume_or_change_a_stopped_copy(client_for, follower, strategy, account):
    copy = _copy(follower, strategy, account)
    client = client_for(follower)
    client.post(f"{BASE}/stop", {"copy_id": copy.pk}, format="json")

    answers = [
        client.post(f"{BASE}/pause", {"copy_id": copy.pk}, format="json").status_code,
        client.post(f"{BASE}/resume", {"copy_id": copy.pk}, format="json").status_code,
        client.patch(f"{BASE}/copies/{copy.pk}", {"max_slippage_percent": "2"}, format="json").status_code,
    ]

    assert answers == [409, 409, 409]


@pytest.mark.django_db
def test_it_changes_a_copys_settings_and_rescales_its_capital_with_the_allocation(client_for, follower, strategy, account):
    copy = _copy(follower, strategy, account)

    response = client_for(follower).patch(
        f"{BASE}/copies/{copy.pk}",
        {"allocation_percent": "50", "max_drawdown_stop": "15", "max_slippage_percent": "2", "max_order_notional_usd": "500"},
        format="json",
    )

    assert response.status_code == 200, response.json()
    copy.refresh_from_db()
    assert (copy.allocation_percent, copy.copy_capital, copy.copy_equity) == (
        Decimal("50"),
        Decimal("5000"),
        Decimal("5000"),
    )
    assert (copy.max_drawdown_stop, copy.max_slippage_percent, copy.max_order_notional) == (
        Decimal("15"),
        Decimal("2"),
        Decimal("500"),
    )
    assert Decimal(response.json()["max_order_notional_usd"]) == Decimal("500")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "fields",
    [
        {"allocation_percent": "0"},
        {"allocation_percent": "100.01"},
        {"multiplier": "2"},
        {"fixed_notional_usd": "100"},
        {"max_drawdown_stop": "0"},
        {"max_slippage_percent": "60"},
        {"max_order_notional_usd": "-1"},
        {"sizing_mode": "fixed"},
        {"status": "active"},
        {"copy_capital": "99999"},
        {"allocation_percent": "NaN"},
    ],
)
def test_it_refuses_an_invalid_change_with_400_and_changes_nothing(client_for, follower, strategy, account, fields):
    copy = _copy(follower, strategy, account)
    before = Copy.objects.filter(pk=copy.pk).values().get()

    response = client_for(follower).patch(f"{BASE}/copies/{copy.pk}", fields, format="json")

    assert response.status_code == 400, response.json()
    assert Copy.objects.filter(pk=copy.pk).values().get() == before


@pytest.mark.django_db
def test_it_refuses_to_raise_an_allocation_past_100_percent_in_total(client_for, owner, follower, strategy, account):
    copy = _copy(follower, strategy, account, allocation_percent=Decimal("50"))
    _copy(follower, signal_only_strategy(owner, name="Other"), account, allocation_percent=Decimal("40"))

    refused = client_for(follower).patch(f"{BASE}/copies/{copy.pk}", {"allocation_percent": "61"}, format="json")
    accepted = client_for(follower).patch(f"{BASE}/copies/{copy.pk}", {"allocation_percent": "60"}, format="json")

    assert refused.status_code == 400
    assert accepted.status_code == 200


# --- reads -----------------------------------------------------------------------------


def _copied_trade(copy, leader_trade, **fields) -> CopiedTrade:
    """A copied trade as execution leaves it; `leader_trade=None` for a platform-initiated close."""
    defaults = {
        "copy": copy,
        "leader_trade": leader_trade,
        "sequence": leader_trade.sequence if leader_trade else None,
        "follower": copy.follower,
        "leader_user": copy.strategy.owner,
        "strategy": copy.strategy,
        "symbol": leader_trade.symbol if leader_trade else "BTC/USDT",
        "side": leader_trade.side if leader_trade else "sell",
        "effect": leader_trade.effect if leader_trade else "close",
        "client_order_id": uuid.uuid4().hex,
        "status": CopiedTrade.Status.FILLED,
    }
    return CopiedTrade.objects.create(**{**defaults, **fields})


@pytest.mark.django_db
def test_my_copies_shows_capital_equity_pnl_drawdown_status_and_the_latest_copied_trades(
    client_for, follower, strategy, account, simulated_binance, monkeypatch
):
    record_fan_outs(monkeypatch)
    copy = _copy(follower, strategy, account)
    for index in range(7):
        submit(strategy, f"t{index}", "buy", amount="0.01")
    for trade in LeaderTrade.objects.all():
        _copied_trade(copy, trade, filled_amount=Decimal("0.001"), average_price=Decimal("60000"))
    _copied_trade(copy, None, sequence=99, kind="stop_loss", status="skipped", reason="below_exchange_minimum")
    FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.1"), average_entry=Decimal("60000"))
    FollowerPosition.objects.create(copy=copy, symbol="ETH/USDT", quantity=Decimal("0"), average_entry=Decimal("0"))
    Copy.objects.filter(pk=copy.pk).update(
        copy_equity=Decimal("2300"),
        peak_equity=Decimal("2600"),
        realized_pnl=Decimal("-200"),
        current_drawdown_percent=Decimal("11.5385"),
        status="paused",
        pause_reason=Copy.PauseReason.PROVIDER_SUSPENDED,
    )
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")

    response = client_for(follower).get(f"{BASE}/my-copies")

    assert response.status_code == 200
    (shown,) = response.json()["results"]
    assert Decimal(shown["copy_capital"]) == Decimal("2500")
    assert Decimal(shown["copy_equity"]) == Decimal("2300")
    assert Decimal(shown["realized_pnl"]) == Decimal("-200")
    assert Decimal(shown["unrealized_pnl"]) == Decimal("500")  # 0.1 × (65,000 − 60,000)
    assert Decimal(shown["current_drawdown_percent"]) == Decimal("11.5385")
    assert (shown["status"], shown["pause_reason"]) == ("paused", "provider_suspended")
    assert shown["pause_reason_text"] == "the curators suspended the leader's signal provider"
    assert [position["symbol"] for position in shown["positions"]] == ["BTC/USDT"]
    assert Decimal(shown["positions"][0]["mark_price"]) == Decimal("65000")
    latest = shown["recent_copied_trades"]
    assert [row["sequence"] for row in latest] == [99, 7, 6, 5, 4]
    assert (latest[0]["status"], latest[0]["reason"]) == ("skipped", "below_exchange_minimum")
    assert latest[0]["reason_text"].startswith("your share") and "_" not in latest[0]["reason_text"]


@pytest.mark.django_db
def test_my_copies_still_renders_when_no_price_can_be_had(client_for, follower, strategy, account, simulated_binance):
    copy = _copy(follower, strategy, account)
    FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.1"), average_entry=Decimal("60000"))
    simulated_binance.set_faults(rates={"5xx": 1.0}, match=["GET /api/v3/ticker/price", "GET /api/v3/ticker/24hr"])

    response = client_for(follower).get(f"{BASE}/my-copies")

    assert response.status_code == 200
    assert response.json()["results"][0]["unrealized_pnl"] is None


@pytest.mark.django_db
def test_my_copies_refuses_a_bad_filter_with_400(client_for, follower):
    assert client_for(follower).get(f"{BASE}/my-copies", {"include_stopped": "maybe"}).status_code == 400
    assert client_for(follower).get(f"{BASE}/my-copies", {"limit": "-1"}).status_code == 400


@pytest.mark.django_db
def test_the_leader_page_shows_the_strategy_its_recent_trades_and_copier_count(
    client_for, follower, stranger, strategy, account, monkeypatch
):
    record_fan_outs(monkeypatch)
    _copy(follower, strategy, account)
    for index in range(25):
        submit(strategy, f"t{index}", "buy", amount="0.01")

    response = client_for(stranger).get(f"{BASE}/leader/{strategy.pk}")

    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["copiers_count"], body["status"]) == (strategy.pk, 1, "running")
    assert [trade["sequence"] for trade in body["recent_trades"]] == list(range(25, 5, -1))
    assert "external_id" not in body["recent_trades"][0]
    assert "webhook_secret" not in body
    assert {"total_return", "sharpe", "win_rate", "max_drawdown"} <= set(body)


@pytest.mark.django_db
def test_the_leader_page_of_a_private_strategy_is_its_owners_only(client_for, owner, stranger):
    private = signal_only_strategy(owner, public=False)

    assert client_for(owner).get(f"{BASE}/leader/{private.pk}").status_code == 200
    assert client_for(stranger).get(f"{BASE}/leader/{private.pk}").status_code == 404
    assert client_for(stranger).get(f"{BASE}/leader/999999").status_code == 404


@pytest.mark.django_db
def test_copied_trades_lists_the_followers_own_with_status_and_reason(
    client_for, owner, follower, stranger, strategy, account, monkeypatch
):
    record_fan_outs(monkeypatch)
    first = _copy(follower, strategy, account)
    second = _copy(follower, signal_only_strategy(owner, name="Other"), account)
    submit(strategy, "t1", "buy", amount="0.01")
    trade = LeaderTrade.objects.get()
    _copied_trade(first, trade, status="failed", reason="insufficient_funds")
    _copied_trade(second, trade, status="skipped", reason="slippage_exceeded")
    client = client_for(follower)

    everything = client.get(f"{BASE}/copied-trades").json()
    filtered = client.get(f"{BASE}/copied-trades", {"copy": first.pk}).json()

    assert everything["count"] == 2
    assert [(row["copy_id"], row["status"], row["reason"]) for row in filtered["results"]] == [(first.pk, "failed", "insufficient_funds")]
    assert client_for(stranger).get(f"{BASE}/copied-trades").json()["count"] == 0
    assert client_for(stranger).get(f"{BASE}/copied-trades", {"copy": first.pk}).status_code == 404
    assert client.get(f"{BASE}/copied-trades", {"copy": "abc"}).status_code == 400
    assert client.get(f"{BASE}/copied-trades", {"copy": "0"}).status_code == 400


# --- leaderboard -----------------------------------------------------------------------


@pytest.mark.django_db
def test_top_lists_public_running_strategies_with_metric_fields_null_until_measured(client_for, owner, stranger, simulated_binance):
    SignalProviderFactory(user=owner)  # curators approved the owner: its AI strategy's fee may be charged
    best = signal_only_strategy(owner, name="Best", kind="ai")
    runner_up = signal_only_strategy(owner, name="Runner-up")
    signal_only_strategy(owner, name="Private", public=False)
    paused = signal_only_strategy(owner, name="Paused")
    strategy_update(owner=owner, strategy_id=paused.pk, data={"status": "paused"})
    Strategy.objects.filter(pk=best.pk).update(copiers_count=5, verified_badge=True)
    Strategy.objects.filter(pk=runner_up.pk).update(copiers_count=2)

    body = client_for(stranger).get(f"{BASE}/top").json()

    assert [row["name"] for row in body["results"]] == ["Best", "Runner-up"]
    row = body["results"][0]
    assert {row[name] for name in ("total_return", "sharpe", "win_rate", "max_drawdown")} == {None}
    assert (row["owner"], row["copiers_count"], row["verified_badge"], row["kind"]) == (display_name(owner), 5, True, "ai")
    assert owner.username not in [str(value) for value in row.values()]  # the username is nobody else's business
    assert row["coverage"] == {"days": 0, "closed_trades": 0, "first_day": None, "last_day": None}
    assert row["ranked"] is False


@pytest.mark.django_db
def test_top_filters_sorts_and_paginates(client_for, owner, stranger, simulated_binance):
    SignalProviderFactory(user=owner)  # curators approved the owner: its AI strategies' fees may be charged
    for index, name in enumerate(["Charlie", "Alpha", "Bravo"]):
        strategy = signal_only_strategy(owner, name=name, kind="ai" if name != "Bravo" else "manual")
        Strategy.objects.filter(pk=strategy.pk).update(copiers_count=index, verified_badge=name == "Alpha")
    client = client_for(stranger)

    def names(**params):
        response = client.get(f"{BASE}/top", params)
        assert response.status_code == 200, response.json()
        return [row["name"] for row in response.json()["results"]]

    assert names() == ["Bravo", "Alpha", "Charlie"]
    assert names(sort="copiers") == names(sort="followers") == ["Bravo", "Alpha", "Charlie"]  # the older name, an alias
    assert names(kind="ai") == ["Alpha", "Charlie"]
    assert names(min_copiers=1) == ["Bravo", "Alpha"]
    assert names(limit=1, offset=1) == ["Alpha"]
    refused = client.get(f"{BASE}/top", {"sort": "name"})
    assert refused.status_code == 400
    assert "use one of return, sharpe, sortino" in refused.json()["message"]


@pytest.mark.django_db
def test_top_shows_at_most_50(client_for, owner, stranger, simulated_binance):
    Strategy.objects.bulk_create(
        Strategy(owner=owner, name=f"S{index}", declared_capital=Decimal("1000"), is_public_leader=True) for index in range(55)
    )

    body = client_for(stranger).get(f"{BASE}/top", {"limit": 200}).json()

    assert body["count"] == 50
    assert len(body["results"]) == 50


@pytest.mark.django_db
@pytest.mark.parametrize(
    "params",
    [
        {"sort": "profit"},
        {"window": "1y"},
        {"kind": "robot"},
        {"min_copiers": "-1"},
        {"min_copiers": "x"},
        {"verified": "perhaps"},
        {"limit": "-1"},
        {"offset": "x"},
        {"colour": "red"},
    ],
)
def test_top_refuses_bad_filters_with_400(client_for, stranger, params):
    response = client_for(stranger).get(f"{BASE}/top", params)

    assert response.status_code == 400
    assert set(response.json()) == {"message", "extra"}


@pytest.mark.django_db
def test_my_copies_takes_as_many_queries_for_three_copies_as_for_one(client_for, owner, follower, strategy, account, monkeypatch):
    record_fan_outs(monkeypatch)
    client = client_for(follower)

    def add_copy(target):
        copy = _copy(follower, target, account, allocation_percent=Decimal("10"))
        submit(target, f"t-{target.pk}", "buy", amount="0.01")
        _copied_trade(copy, LeaderTrade.objects.filter(strategy=target).get())
        FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"))

    add_copy(strategy)
    with CaptureQueriesContext(connection) as one:
        assert client.get(f"{BASE}/my-copies").json()["count"] == 1
    add_copy(signal_only_strategy(owner, name="Second"))
    add_copy(signal_only_strategy(owner, name="Third"))
    with CaptureQueriesContext(connection) as three:
        assert client.get(f"{BASE}/my-copies").json()["count"] == 3

    assert len(three.captured_queries) == len(one.captured_queries)


@pytest.mark.django_db
def test_top_shows_and_sorts_by_the_audited_metrics_of_the_window(client_for, owner, stranger, simulated_binance):
    from marketplace.models import StrategyMetrics

    steady, volatile, unmeasured = (signal_only_strategy(owner, name=name) for name in ("Steady", "Volatile", "Unmeasured"))
    today = date(2026, 11, 1)
    for strategy, window, total_return, sharpe, drawdown in [
        (steady, "30d", 0.05, 2.1, 3.0),
        (volatile, "30d", 0.20, 0.9, 25.0),
        (steady, "7d", 0.50, 0.1, 1.0),
    ]:
        StrategyMetrics.objects.create(
            strategy=strategy,
            window=window,
            as_of=today,
            computed_at=timezone.now(),
            total_return=total_return,
            sharpe_ratio=sharpe,
            max_drawdown=drawdown,
            win_rate=0.5,
            returns_count=30,
            closed_trades=10,
        )
    client = client_for(stranger)

    def rows(**params):
        response = client.get(f"{BASE}/top", params)
        assert response.status_code == 200, response.json()
        return [(row["name"], row["total_return"]) for row in response.json()["results"]]

    assert rows(sort="total_return") == [("Volatile", 20.0), ("Steady", 5.0), ("Unmeasured", None)]  # percent, like max_drawdown
    assert [name for name, _ in rows(sort="sharpe")] == ["Steady", "Volatile", "Unmeasured"]
    assert [name for name, _ in rows(sort="max_drawdown")] == ["Steady", "Volatile", "Unmeasured"]
    assert rows(sort="total_return", window="7d") == [("Steady", 50.0), ("Volatile", None), ("Unmeasured", None)]
    assert client.get(f"/api/copy-trading/leader/{steady.pk}").json()["sharpe"] == 2.1
    assert client.get(f"/api/copy-trading/leader/{unmeasured.pk}").json()["sharpe"] is None


def _measure(strategy, *, window: str, days: int, trades: int, **figures):
    from marketplace.models import StrategyMetrics

    as_of = date(2026, 11, 1)
    first_day = as_of - timezone.timedelta(days=days - 1) if days else None
    StrategyMetrics.objects.create(
        strategy=strategy,
        window=window,
        as_of=as_of,
        computed_at=timezone.now(),
        returns_count=days,
        closed_trades=trades,
        first_day=first_day,
        last_day=as_of if days else None,
        **figures,
    )


@pytest.mark.django_db
def test_top_ranks_long_enough_records_first_and_each_window_says_what_it_covers(client_for, owner, stranger, settings, simulated_binance):
    # given a one-trade record that won, and two seasoned ones
    settings.LEADERBOARD_MIN_DAYS, settings.LEADERBOARD_MIN_CLOSED_TRADES = 30, 10
    lucky, steady, bold = (signal_only_strategy(owner, name=name) for name in ("Lucky", "Steady", "Bold"))
    _measure(lucky, window="all", days=1, trades=1, win_rate=1.0, total_return=0.3, profit_factor_infinite=True)
    _measure(lucky, window="90d", days=1, trades=1, win_rate=1.0, total_return=0.3, profit_factor_infinite=True)
    for strategy, sortino, calmar, profit_factor, win_rate in [(steady, 2.5, 1.2, 1.8, 0.6), (bold, 1.1, 3.0, 2.4, 0.55)]:
        _measure(strategy, window="all", days=200, trades=60, win_rate=win_rate)
        _measure(
            strategy,
            window="90d",
            days=90,
            trades=25,
            win_rate=win_rate,
            sortino_ratio=sortino,
            calmar_ratio=calmar,
            profit_factor=profit_factor,
            total_return=0.1,
        )
    client = client_for(stranger)

    def rows(sort):
        response = client.get(f"{BASE}/top", {"sort": sort, "window": "90d"})
        assert response.status_code == 200, response.json()
        return response.json()["results"]

    # when / then: one winning trade does not top the win rate, nor an infinite profit factor
    assert [(row["name"], row["ranked"]) for row in rows("win_rate")] == [("Steady", True), ("Bold", True), ("Lucky", False)]
    assert [row["name"] for row in rows("profit_factor")] == ["Bold", "Steady", "Lucky"]
    assert [row["name"] for row in rows("sortino")] == ["Steady", "Bold", "Lucky"]
    assert [row["name"] for row in rows("calmar")] == ["Bold", "Steady", "Lucky"]
    lucky_row = rows("win_rate")[2]
    assert lucky_row["coverage"] == {"days": 1, "closed_trades": 1, "first_day": "2026-11-01", "last_day": "2026-11-01"}
    # one day and one trade say nothing of its ratios: blank, with the reason
    assert (lucky_row["profit_factor"], lucky_row["profit_factor_infinite"], lucky_row["as_of"]) == (None, None, "2026-11-01")
    assert lucky_row["ratios_note"] == (
        "Ratios (Sharpe, Sortino, Calmar, profit factor) are shown from 20 daily returns and 5 closed trades; this period has 1 and 1."
    )
    assert rows("calmar")[0]["ratios_note"] is None
    bold_row = rows("calmar")[0]
    assert (bold_row["sortino"], bold_row["calmar"], bold_row["profit_factor"], bold_row["coverage"]["days"]) == (1.1, 3.0, 2.4, 90)
    # the minimum is a setting
    settings.LEADERBOARD_MIN_DAYS, settings.LEADERBOARD_MIN_CLOSED_TRADES = 1, 1
    assert [row["name"] for row in rows("win_rate")] == ["Lucky", "Steady", "Bold"]


def _copy_output_schema() -> dict:
    return SchemaGenerator().get_schema(request=None, public=True)["components"]["schemas"]["CopyOutput"]["properties"]


def test_the_schema_says_a_paused_copy_still_mirrors_exits():
    schema = SchemaGenerator().get_schema(request=None, public=True)
    pause = schema["paths"]["/api/copy-trading/pause"]["post"]["description"]

    for text in (pause, _copy_output_schema()["status"]["description"]):
        assert "takes no new entries, but still mirrors the leader's reductions and closes of what the copy holds" in text


@pytest.mark.django_db
def test_my_copies_gives_computed_amounts_as_decimal_strings_and_unset_limits_as_null(
    client_for, follower, strategy, account, simulated_binance
):
    # Found by the API fuzz test: the unset limits were null under a non-nullable schema, and
    # the request-time amounts were JSON floats (a bare Decimal) where every amount is a string.
    copy = _copy(follower, strategy, account)
    FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.1"), average_entry=Decimal("60000"))
    simulated_binance.set_price(symbol="BTC/USDT", price="65000.5")

    response = client_for(follower).get(f"{BASE}/my-copies")

    (shown,) = response.json()["results"]
    assert (shown["fixed_notional_usd"], shown["max_order_notional_usd"]) == (None, None)
    assert shown["unrealized_pnl"] == "500.05000000"
    assert shown["positions"][0]["mark_price"] == "65000.5"
    schema = _copy_output_schema()
    assert all(schema[name]["nullable"] for name in ("fixed_notional_usd", "max_order_notional_usd", "unrealized_pnl"))
    assert schema["unrealized_pnl"]["type"] == "string"
