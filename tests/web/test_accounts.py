"""Accounts through django-allauth: sign-up with a display name and email verification,
login, password reset; display names in core."""

import re

import pytest
from allauth.account.models import EmailAddress
from django.contrib.auth import get_user_model
from django.core import mail

from core.models import Profile
from core.selectors import display_name
from tests.web.support import make_member

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-and-unusual-passphrase-42"


def _sign_up(client, *, email="nina@example.com", name="Nina Quant", password=PASSWORD):
    return client.post("/accounts/signup/", {"email": email, "display_name": name, "password1": password, "password2": password})


def _verification_link(message) -> str:
    return re.search(r"http://testserver(/accounts/confirm-email/[^\s]+/)", message.body).group(1)


def test_signing_up_keeps_the_display_name_and_mails_a_verification_link(client):
    response = _sign_up(client)

    assert response.status_code == 302
    user = get_user_model().objects.get(email="nina@example.com")
    assert display_name(user) == "Nina Quant"
    assert not EmailAddress.objects.get(user=user).verified
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["nina@example.com"]
    assert _verification_link(mail.outbox[0])


def test_login_waits_for_the_verified_email_and_works_after_the_link(client):
    _sign_up(client)
    client.logout()

    before = client.post("/accounts/login/", {"login": "nina@example.com", "password": PASSWORD})
    link = _verification_link(mail.outbox[-1])
    confirm_page = client.get(link)
    confirmed = client.post(link)
    after = client.post("/accounts/login/", {"login": "nina@example.com", "password": PASSWORD})

    assert before.status_code == 302 and before["Location"] == "/accounts/confirm-email/"
    assert confirm_page.status_code == 200 and "nina@example.com" in confirm_page.content.decode()
    assert confirmed.status_code == 302
    assert EmailAddress.objects.get(email="nina@example.com").verified
    assert after.status_code == 302 and after["Location"] == "/"
    assert client.get("/settings/tokens/").status_code == 200


def test_a_taken_display_name_is_refused_inline_and_no_account_is_made(client):
    make_member("nina", "Nina Quant")

    response = _sign_up(client, email="other@example.com", name="nina quant")

    assert response.status_code == 200
    assert "This display name is taken; choose another." in response.content.decode()
    assert not get_user_model().objects.filter(email="other@example.com").exists()
    assert len(mail.outbox) == 0


@pytest.mark.parametrize(("name", "error"), [("ab", "Use 3 to 40 characters."), ("nina@example.com", "Use letters, digits")])
def test_a_display_name_cannot_be_too_short_or_look_like_an_email(client, name, error):
    response = _sign_up(client, name=name)

    assert error in response.content.decode()
    assert not Profile.objects.exists()


def test_a_password_reset_mails_a_link_and_names_the_email_never_a_username_they_did_not_choose(client):
    make_member("nina", "Nina Quant")

    response = client.post("/accounts/password/reset/", {"email": "nina@example.com"})

    assert response.status_code == 302
    [message] = mail.outbox
    assert "/accounts/password/reset/key/" in message.body
    assert "(nina@example.com)" in message.body and "You sign in with this email address" in message.body
    assert "username" not in message.body and "nina\n" not in message.body


def test_mails_speak_as_the_product_not_as_the_servers_address(client):
    _sign_up(client)

    [message] = mail.outbox
    assert message.body.startswith("Hello from copytrade!")
    assert "Hello from testserver" not in message.body and "Thank you for using copytrade!" in message.body


def test_following_the_confirmation_link_signs_you_in(client):
    _sign_up(client)

    confirmed = client.post(_verification_link(mail.outbox[-1]))

    assert confirmed.status_code == 302
    assert client.get("/settings/tokens/").status_code == 200


def test_every_account_page_labels_its_inputs(client):
    for path in ("/accounts/signup/", "/accounts/login/", "/accounts/password/reset/"):
        html = client.get(path).content.decode()
        inputs = re.findall(r'<input[^>]*type="(?:text|email|password)"[^>]*id="([^"]+)"', html)
        assert inputs, path
        for input_id in inputs:
            assert f'for="{input_id}"' in html, (path, input_id)


def test_a_user_without_a_profile_gets_a_masked_name_never_the_username(db):
    user = get_user_model().objects.create_user(username="secret-username", email="secret@example.com")

    name = display_name(user)

    assert name.startswith("Trader ") and len(name) == len("Trader ") + 6
    assert "secret" not in name
    assert display_name(user) == name
