"""Exchange keys made safe (issue 30), over the wire to the loopback simulator: a key that may
withdraw is refused on connect with the reason, a key usable from any address is accepted
with the platform's egress addresses to limit it to, and the nightly check pauses the copies
on a key the exchange has since revoked (or given withdrawal permission) and tells the follower."""

from decimal import Decimal

import pytest

from copytrade.models import Copy
from copytrade.services.copies import copy_start
from copytrade.tasks import verify_exchange_keys
from core.models import Notification
from exchanges.models import ExchangeAccount
from tests.copytrade import signal_only_strategy, simulator_account

pytestmark = pytest.mark.django_db

URL = "/api/exchange-accounts/"


def _connect(client_for, user, credentials, label="Main"):
    return client_for(user).post(
        URL,
        {"exchange_id": "binance", "label": label, "api_key": credentials["api_key"], "api_secret": credentials["api_secret"]},
        format="json",
    )


def test_a_key_that_may_withdraw_is_refused_with_the_reason_and_nothing_is_stored(client_for, follower, simulated_binance):
    credentials = simulated_binance.create_account(balances={"USDT": "1000"})
    simulated_binance.set_restrictions(api_key=credentials["api_key"], enable_withdrawals=True, ip_restrict=True)

    response = _connect(client_for, follower, credentials)

    assert response.status_code == 400
    body = response.json()
    assert "may withdraw funds" in body["message"]
    assert "trading permission only" in body["message"]
    assert body["extra"] == {"reason": "can_withdraw"}
    assert not ExchangeAccount.objects.filter(owner=follower).exists()


def test_a_key_limited_to_the_platforms_addresses_is_accepted_without_a_warning(client_for, follower, simulated_binance):
    credentials = simulated_binance.create_account(balances={"USDT": "1000"})
    simulated_binance.set_restrictions(api_key=credentials["api_key"], ip_restrict=True)

    response = _connect(client_for, follower, credentials)

    assert response.status_code == 201
    assert response.json()["ip_restricted"] is True
    assert response.json()["key_warning"] == ""


def test_a_key_usable_from_any_address_is_accepted_with_the_addresses_to_limit_it_to(client_for, follower, simulated_binance, settings):
    settings.EXCHANGE_EGRESS_ADDRESSES = ["203.0.113.10", "203.0.113.11"]
    credentials = simulated_binance.create_account(balances={"USDT": "1000"})

    response = _connect(client_for, follower, credentials)

    assert response.status_code == 201
    assert response.json()["ip_restricted"] is False
    assert response.json()["key_warning"] == (
        "This API key works from any internet address. On Binance, limit it to the platform's addresses: "
        "203.0.113.10, 203.0.113.11; then a leaked key is useless elsewhere."
    )


def test_the_exchange_accounts_page_warns_about_a_key_usable_from_any_address(client_for, follower, simulated_binance, settings):
    from django.test import Client

    from tests.web.support import make_member

    settings.EXCHANGE_EGRESS_ADDRESSES = ["203.0.113.10"]
    member = make_member("mia", "Mia")
    simulator_account(simulated_binance, member)
    client = Client()
    client.force_login(member)

    page = client.get("/settings/exchange-accounts/").content.decode()

    assert "limit it to the platform&#x27;s addresses: 203.0.113.10" in page


@pytest.fixture
def copy_on_binance(simulated_binance, owner, follower, settings):
    settings.EXCHANGE_TICKER_CACHE_SECONDS = 0
    simulated_binance.set_price(symbol="BTC/USDT", price="65000")
    strategy = signal_only_strategy(owner, capital="100000")
    account = simulator_account(simulated_binance, follower)
    return copy_start(follower=follower, strategy_id=strategy.pk, exchange_account_id=account.pk, allocation_percent=Decimal("50"))


def test_the_nightly_check_pauses_the_copies_on_a_revoked_key_and_tells_the_follower(copy_on_binance, simulated_binance, follower):
    account = copy_on_binance.exchange_account
    simulated_binance.delete_account(api_key=account.api_key)  # the follower revoked the key on the exchange

    outcome = verify_exchange_keys.apply().get()

    assert outcome == {"checked": 1, "failed": 1}
    copy_on_binance.refresh_from_db()
    account.refresh_from_db()
    assert (account.status, account.status_reason) == ("invalid", ExchangeAccount.StatusReason.INVALID_CREDENTIALS)
    assert (copy_on_binance.status, copy_on_binance.pause_reason) == ("paused", Copy.PauseReason.INVALID_CREDENTIALS)
    notice = Notification.objects.get(user=follower, kind=Notification.Kind.ACCOUNT_INVALID)
    assert "1 copy(ies) on it were paused" in notice.body


def test_the_nightly_check_pauses_the_copies_on_a_key_given_withdrawal_permission_since(copy_on_binance, simulated_binance):
    account = copy_on_binance.exchange_account
    simulated_binance.set_restrictions(api_key=account.api_key, enable_withdrawals=True)

    verify_exchange_keys.apply().get()

    copy_on_binance.refresh_from_db()
    account.refresh_from_db()
    assert account.status_reason == ExchangeAccount.StatusReason.CAN_WITHDRAW
    assert copy_on_binance.pause_reason == Copy.PauseReason.KEY_CAN_WITHDRAW
    assert copy_on_binance.get_pause_reason_display().startswith("the exchange says the account's API key may withdraw funds")


def test_the_nightly_check_leaves_a_good_key_trading_and_records_when_it_was_checked(copy_on_binance, simulated_binance):
    account = copy_on_binance.exchange_account
    before = account.last_verified_at
    simulated_binance.set_restrictions(api_key=account.api_key, ip_restrict=True)

    assert verify_exchange_keys.apply().get() == {"checked": 1, "failed": 0}

    account.refresh_from_db()
    copy_on_binance.refresh_from_db()
    assert account.status == "active" and account.ip_restricted is True and account.last_verified_at > before
    assert copy_on_binance.status == "active"


def test_the_nightly_check_changes_nothing_when_the_exchange_does_not_answer(copy_on_binance, simulated_binance):
    simulated_binance.set_faults(rates={"5xx": 1.0}, match=["GET /api/v3/account"])

    assert verify_exchange_keys.apply().get() == {"checked": 1, "failed": 0}

    copy_on_binance.refresh_from_db()
    assert copy_on_binance.status == "active"


@pytest.mark.parametrize(("exchange_id", "sandbox"), [("binance", True), ("bybit", False), ("okx", False)])
def test_where_the_exchange_does_not_tell_a_keys_permissions_nothing_is_asked(follower, exchange_id, sandbox):
    from exchanges.gateways import gateway_for_account

    account = ExchangeAccount(owner=follower, exchange_id=exchange_id, label="x", api_key="k", api_secret="s", sandbox=sandbox)

    assert gateway_for_account(account).key_permissions() is None
