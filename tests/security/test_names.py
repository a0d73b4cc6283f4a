"""Names (issue 32, 10 and 11): no control characters wherever a name is taken (400 with
words, nothing stored); provider display names unique after normalisation (NFKC, case,
look-alike letters), and a name mixing scripts refused; a mail about a name stored before
these rules still goes out."""

from decimal import Decimal

import pytest
from django.core import mail
from django.core.exceptions import ValidationError

from copytrade.models import Strategy
from core.models import Notification, Profile
from core.names import name_key
from core.notifications import notification_send
from core.profiles import profile_create
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider
from tests.copytrade import signal_only_strategy
from tests.factories import SignalProviderFactory, make_user

pytestmark = pytest.mark.django_db

CONTROL_NAMES = ["Evil\r\nBcc: victim@example.com", "Tab\there", "Right\u202etfel", "Zero\u200bwidth"]


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_a_strategy_name_with_control_characters_is_refused(client_for, owner, name):
    response = client_for(owner).post("/api/strategies/", {"name": name, "declared_capital": "1000"}, format="json")

    assert response.status_code == 400
    assert "control or invisible characters" in str(response.json())
    assert not Strategy.objects.exists()


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_an_exchange_account_label_with_control_characters_is_refused(client_for, owner, name):
    response = client_for(owner).post(
        "/api/exchange-accounts/", {"exchange_id": "paper", "label": name, "starting_balance": {"USDT": "100"}}, format="json"
    )

    assert response.status_code == 400
    assert "control or invisible characters" in str(response.json())
    assert not ExchangeAccount.objects.exists()


@pytest.mark.parametrize("name", CONTROL_NAMES)
def test_a_provider_display_name_with_control_characters_is_refused(client_for, owner, name):
    response = client_for(owner).post("/api/marketplace/apply", {"display_name": name}, format="json")

    assert response.status_code == 400
    assert "control or invisible characters" in str(response.json())
    assert not SignalProvider.objects.exists()


def test_the_strategy_page_refuses_a_name_with_a_line_break_in_words(client, owner):
    client.force_login(owner)

    response = client.post("/leader/strategies/", {"name": "Two\r\nlines", "declared_capital": "1000"})

    assert response.status_code in (200, 400)
    assert "control or invisible characters" in response.content.decode()
    assert not Strategy.objects.exists()


@pytest.mark.parametrize(
    "copycat",
    ["Alice", "alice", "  ALICE ", "Ａｌｉｃｅ"],
)
def test_a_second_provider_cannot_take_a_name_that_reads_as_an_existing_one(client_for, copycat):
    SignalProviderFactory(user=make_user("alice"), display_name="Alice")

    response = client_for(make_user("mallory")).post("/api/marketplace/apply", {"display_name": copycat}, format="json")

    assert response.status_code == 400
    assert "already" in str(response.json())
    assert SignalProvider.objects.count() == 1


def test_a_name_that_mixes_scripts_is_refused_in_words(client_for):
    response = client_for(make_user("mallory")).post("/api/marketplace/apply", {"display_name": "\u0410lice"}, format="json")

    assert response.status_code == 400
    assert "Write the name's letters in one script" in str(response.json())
    assert "Cyrillic and Latin" in str(response.json())


def test_a_whole_name_of_look_alike_letters_reads_as_the_latin_one(client_for):
    SignalProviderFactory(user=make_user("abc"), display_name="ABC")

    response = client_for(make_user("mallory")).post("/api/marketplace/apply", {"display_name": "\u0410\u0412\u0421"}, format="json")

    assert response.status_code == 400
    assert "already" in str(response.json())
    assert name_key("\u0410\u0412\u0421") == name_key("abc")


def test_names_of_one_non_latin_script_are_welcome(client_for):
    for username, name in (("yuki", "ゆきの取引"), ("ivan", "Иван Петров"), ("eleni", "Ελένη")):
        response = client_for(make_user(username)).post("/api/marketplace/apply", {"display_name": name}, format="json")
        assert response.status_code == 201, response.json()


def test_a_mail_about_a_name_stored_before_the_rules_still_goes_out(owner, follower, django_capture_on_commit_callbacks):
    strategy = signal_only_strategy(owner, name="Fine")
    Strategy.objects.filter(pk=strategy.pk).update(name="Old\r\nBcc: victim@example.com")
    strategy.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        # A forced close is mailed by default (core.models.Notification.EMAIL_BY_DEFAULT).
        notification_send(user=follower, kind=Notification.Kind.COPY_STOP_LOSS, title=f"Your copy of {strategy.name} was closed")

    [sent] = mail.outbox
    assert sent.subject == "Your copy of Old Bcc: victim@example.com was closed"
    assert sent.to == [follower.email]
    assert sent.extra_headers == {}


def test_an_existing_provider_may_keep_its_own_name_on_reapplying(client_for):
    user = make_user("rita")
    SignalProviderFactory(user=user, display_name="Rita", status=SignalProvider.Status.REJECTED)

    response = client_for(user).post("/api/marketplace/apply", {"display_name": "Rita", "performance_fee_percent": "10"}, format="json")

    assert response.status_code == 201, response.json()
    assert SignalProvider.objects.get().performance_fee_percent == Decimal("10")


@pytest.mark.parametrize(
    "copycat", ["alice trades", "Ａｌｉｃｅ Ｔｒａｄｅｓ", "\u0410\u041b\u0406\u0421\u0415 \u0422\u0420\u0410D\u0415S"]
)
def test_a_public_display_name_that_reads_as_a_taken_one_is_refused(copycat):
    profile_create(user=make_user("alice"), display_name="Alice Trades")

    with pytest.raises(ValidationError):
        profile_create(user=make_user("mallory"), display_name=copycat)

    assert Profile.objects.count() == 1


def test_a_public_display_name_mixing_scripts_is_refused_in_words():
    with pytest.raises(ValidationError, match="Write the name's letters in one script"):
        profile_create(user=make_user("mallory"), display_name="\u0410lice Trades")
