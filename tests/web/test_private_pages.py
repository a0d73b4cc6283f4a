"""The signed-in pages: notifications, API tokens, exchange accounts. Anonymous visitors
are sent to log in; someone else's object is a 404 and stays as it was."""

import pytest
from rest_framework.test import APIClient

from core.models import ApiToken, Notification
from core.notifications import notification_send
from core.tokens import api_token_create
from exchanges.models import ExchangeAccount
from tests.marketplace.support import make_copy, make_strategy
from tests.web.support import make_member

pytestmark = pytest.mark.django_db

PRIVATE_PAGES = [
    "/notifications/",
    "/notifications/unread-count/",
    "/settings/notifications/",
    "/settings/tokens/",
    "/settings/exchange-accounts/",
]


@pytest.fixture
def member(db):
    return make_member("mia", "Mia")


@pytest.fixture
def other(db):
    return make_member("oscar", "Oscar")


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.mark.parametrize("path", PRIVATE_PAGES)
def test_an_anonymous_visitor_is_sent_to_log_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize(
    "path", ["/notifications/read-all/", "/notifications/1/read/", "/settings/tokens/1/revoke/", "/settings/exchange-accounts/1/delete/"]
)
def test_an_anonymous_post_changes_nothing_and_is_sent_to_log_in(client, path):
    response = client.post(path)

    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


# --- Notifications -------------------------------------------------------------------------


def test_the_notification_settings_page_shows_the_defaults_and_saves_a_choice_that_is_then_honoured(signed_in, member):
    html = signed_in.get("/settings/notifications/").content.decode()
    assert "A copy&#x27;s stop-loss paused it and closed its positions" in html
    assert 'name="copy_stop_loss-email" id="id_copy_stop_loss-email" checked' in html  # acts for them: mailed
    assert 'name="copied_trade_filled-email" id="id_copied_trade_filled-email">' in html  # news only: not mailed

    # everything stays as it was but the invoices issued: off in the app, on by email
    kept = {name: "on" for name in ("copy_stop_loss-in_app", "copy_stop_loss-email", "invoice_issued-email")}
    response = signed_in.post("/settings/notifications/", kept)

    assert response.status_code == 302 and response["Location"] == "/settings/notifications/"
    assert notification_send(user=member, kind=Notification.Kind.INVOICE_ISSUED, title="Your invoice") is None
    assert notification_send(user=member, kind=Notification.Kind.COPY_STOP_LOSS, title="Stop-loss") is not None
    assert 'name="invoice_issued-email" id="id_invoice_issued-email" checked' in signed_in.get("/settings/notifications/").content.decode()


def test_the_notifications_page_lists_only_ones_own_with_the_unread_count(signed_in, member, other):
    notification_send(user=member, kind=Notification.Kind.COPY_PAUSED, title="Your copy of Steady paused", email=False)
    notification_send(user=member, kind=Notification.Kind.INVOICE, title="Invoice for March", email=False)
    notification_send(user=other, kind=Notification.Kind.INVOICE, title="Oscar's invoice", email=False)

    html = signed_in.get("/notifications/").content.decode()

    assert "Your copy of Steady paused" in html and "Invoice for March" in html
    assert "Oscar's invoice" not in html
    assert '<span id="unread-badge" class="badge"' in html and '>2<span class="visually-hidden"> unread' in html


def test_marking_a_notification_read_by_htmx_swaps_the_row_and_refreshes_the_badge(signed_in, member):
    notification = notification_send(user=member, kind=Notification.Kind.INVOICE, title="Invoice for March", email=False)

    response = signed_in.post(f"/notifications/{notification.pk}/read/", headers={"HX-Request": "true"})
    badge = signed_in.get("/notifications/unread-count/").content.decode()

    assert response.status_code == 200
    assert response["HX-Trigger"] == "notifications-changed"
    assert f'id="notification-{notification.pk}"' in response.content.decode()
    assert "Mark as read" not in response.content.decode()
    assert Notification.objects.get(pk=notification.pk).read_at is not None
    assert "badge-empty" in badge


def test_marking_all_read_without_htmx_returns_to_the_list(signed_in, member, other):
    notification_send(user=member, kind=Notification.Kind.INVOICE, title="One", email=False)
    theirs = notification_send(user=other, kind=Notification.Kind.INVOICE, title="Theirs", email=False)

    response = signed_in.post("/notifications/read-all/", follow=True)

    assert "Marked 1 notification as read." in response.content.decode()
    assert Notification.objects.get(pk=theirs.pk).read_at is None


def test_someone_elses_notification_is_not_found_and_stays_unread(signed_in, other):
    theirs = notification_send(user=other, kind=Notification.Kind.INVOICE, title="Theirs", email=False)

    response = signed_in.post(f"/notifications/{theirs.pk}/read/")

    assert response.status_code == 404
    assert Notification.objects.get(pk=theirs.pk).read_at is None


# --- API tokens ------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works_for_the_api(signed_in, member):
    created = signed_in.post("/settings/tokens/", {"name": "trading bot"})
    key = created.context["created"]["key"]
    again = signed_in.get("/settings/tokens/").content.decode()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    me = api.get("/api/auth/me/")

    assert created.status_code == 200
    assert key in created.content.decode() and "shown only this once" in created.content.decode()
    assert created["Cache-Control"] == "no-store"
    assert key not in again and "trading bot" in again
    assert me.status_code == 200 and me.json()["display_name"] == "Mia"
    token = ApiToken.objects.get(user=member)
    assert token.key_hash != key and key not in token.key_hash
    assert token.last_used_at is not None


def test_a_token_needs_a_name(signed_in):
    response = signed_in.post("/settings/tokens/", {"name": ""})

    assert response.status_code == 400
    assert "This field is required." in response.content.decode()
    assert not ApiToken.objects.exists()


def test_a_revoked_token_is_refused_by_the_api(signed_in, member):
    token, key = api_token_create(user=member, name="old script")

    response = signed_in.post(f"/settings/tokens/{token.pk}/revoke/", follow=True)
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    assert "revoked" in response.content.decode()
    assert api.get("/api/auth/me/").status_code == 401


def test_someone_elses_token_cannot_be_revoked(signed_in, other):
    token, key = api_token_create(user=other, name="oscar's bot")

    response = signed_in.post(f"/settings/tokens/{token.pk}/revoke/")

    assert response.status_code == 404
    assert ApiToken.objects.get(pk=token.pk).revoked_at is None
    assert "oscar's bot" not in signed_in.get("/settings/tokens/").content.decode()


# --- Exchange accounts -----------------------------------------------------------------------


def test_a_paper_account_opens_with_its_starting_balance(signed_in, member):
    response = signed_in.post(
        "/settings/exchange-accounts/", {"kind": "paper", "label": "Practice", "starting_balance": "2500"}, follow=True
    )

    html = response.content.decode()
    assert "“Practice” opened with its starting balance." in html
    assert "2,500.00\u00a0USDT" in html
    account = ExchangeAccount.objects.get(owner=member)
    assert account.is_paper and account.paper_balances.get().free == 2500


def test_exchange_keys_are_verified_with_the_exchange_before_they_are_saved(signed_in, member, simulated_binance):
    credentials = simulated_binance.create_account(balances={"USDT": "1000"})

    response = signed_in.post(
        "/settings/exchange-accounts/",
        {"kind": "exchange", "label": "Binance main", "exchange_id": "binance", **credentials},
        follow=True,
    )

    assert "“Binance main” connected: the exchange accepted the key." in response.content.decode()
    account = ExchangeAccount.objects.get(owner=member)
    assert account.api_key == credentials["api_key"] and account.last_verified_at is not None
    assert credentials["api_secret"] not in response.content.decode()


def test_keys_the_exchange_refuses_are_an_error_in_words_and_nothing_is_saved(signed_in, simulated_binance):
    response = signed_in.post(
        "/settings/exchange-accounts/",
        {"kind": "exchange", "label": "Wrong", "exchange_id": "binance", "api_key": "not-a-key", "api_secret": "wrong-secret-123"},
    )

    html = response.content.decode()
    assert response.status_code == 400
    assert "The exchange refused this API key: check key, secret and trading permission." in html
    assert "wrong-secret-123" not in html and 'value="not-a-key"' not in html
    assert not ExchangeAccount.objects.exists()


def test_an_exchange_account_needs_its_keys(signed_in):
    response = signed_in.post("/settings/exchange-accounts/", {"kind": "exchange", "label": "Empty", "exchange_id": "binance"})

    assert response.status_code == 400
    html = response.content.decode()
    assert "Paste the API key from your exchange" in html and "Paste the API secret" in html
    assert not ExchangeAccount.objects.exists()


def test_a_duplicate_label_is_refused_inline(signed_in, member):
    signed_in.post("/settings/exchange-accounts/", {"kind": "paper", "label": "Practice"})

    response = signed_in.post("/settings/exchange-accounts/", {"kind": "paper", "label": "Practice"})

    assert response.status_code == 400
    assert "already" in response.content.decode()
    assert ExchangeAccount.objects.filter(owner=member).count() == 1


def test_deleting_an_account_removes_it_and_someone_elses_is_not_found(signed_in, member, other):
    mine = ExchangeAccount.objects.create(owner=member, exchange_id="paper", label="Mine")
    theirs = ExchangeAccount.objects.create(owner=other, exchange_id="paper", label="Theirs")

    refused = signed_in.post(f"/settings/exchange-accounts/{theirs.pk}/delete/")
    deleted = signed_in.post(f"/settings/exchange-accounts/{mine.pk}/delete/", follow=True)

    assert refused.status_code == 404
    assert ExchangeAccount.objects.filter(pk=theirs.pk).exists()
    assert not ExchangeAccount.objects.filter(pk=mine.pk).exists()
    assert "Exchange account deleted" in deleted.content.decode()
    assert "Theirs" not in deleted.content.decode()


def test_an_account_a_copy_trades_on_is_kept_and_the_page_says_why(signed_in, member):
    leader = make_member("lena", "Lena")
    copy = make_copy(member, make_strategy(leader))

    response = signed_in.post(f"/settings/exchange-accounts/{copy.exchange_account_id}/delete/", follow=True)

    assert response.status_code == 200
    assert ExchangeAccount.objects.filter(pk=copy.exchange_account_id).exists()
    errors = [str(message) for message in response.context["messages"] if message.level_tag == "error"]
    assert len(errors) == 1 and "copy" in errors[0].lower()
