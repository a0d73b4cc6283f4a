"""Two-factor sign-in in a browser (issue 30): a member turns on an authenticator app from the
account menu, signs out and in again with a code, and under production's STAFF_REQUIRE_MFA the
admin sends a staff member without an authenticator to set one up. The codes are computed
from the secret the page shows, as an authenticator app would."""

import time

import pytest
from allauth.mfa.models import Authenticator

from tests.copytrade import simulator_account
from tests.second_factor import PERIOD, totp_code, totp_turn_on
from tests.web.support import make_member, password_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sign_in(browsing, username: str, *, next_path: str = "") -> None:
    page = browsing.page
    browsing.open("/accounts/login/" + (f"?next={next_path}" if next_path else ""))
    page.get_by_label("Email or username").fill(username)
    page.locator("#id_password").fill(password_of(username))
    page.get_by_role("button", name="Sign In").click()


def test_a_member_turns_on_an_authenticator_app_and_signs_in_with_its_code(browsing):
    member = make_member("nina", "Nina")
    page = browsing.page
    _sign_in(browsing, "nina")
    page.wait_for_url(browsing.base_url + "/")

    page.locator("details.account-menu summary").click()
    page.get_by_role("link", name="Two-factor sign-in").click()
    page.wait_for_url("**/accounts/2fa/")
    browsing.look("two-factor-off")
    page.get_by_role("link", name="Activate").click()
    # Turning it on is itself sensitive: allauth asks for the password once more.
    page.wait_for_url("**/accounts/reauthenticate/**")
    page.locator("#id_password").fill(password_of("nina"))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    secret = page.locator("#authenticator_secret").input_value()
    browsing.look("two-factor-activate")
    page.get_by_label("Authenticator code").fill(totp_code(secret))
    page.get_by_role("button", name="Activate").click()
    page.wait_for_url("**/accounts/2fa/recovery-codes/")
    browsing.look("two-factor-recovery-codes")
    assert Authenticator.objects.filter(user=member, type=Authenticator.Type.TOTP).exists()

    page.locator("details.account-menu summary").click()
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(browsing.base_url + "/")
    _sign_in(browsing, "nina")
    page.wait_for_url("**/accounts/2fa/authenticate/")
    browsing.look("two-factor-sign-in")
    # The next period's code: within the one step of tolerance, and not the one just used.
    page.get_by_label("Code").fill(totp_code(secret, at=time.time() + PERIOD))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(browsing.base_url + "/")
    assert page.locator("details.account-menu summary").inner_text().endswith("Nina")


def test_under_production_settings_the_admin_sends_staff_without_an_authenticator_to_set_one_up(browsing, settings):
    settings.STAFF_REQUIRE_MFA = True  # config/settings/production.py
    make_member("ops", "Ops Desk", is_staff=True, is_superuser=True)
    page = browsing.page

    _sign_in(browsing, "ops", next_path="/admin/")

    # Sent to set up an authenticator (which, like any change of sign-in, asks for the password again).
    page.wait_for_url("**/accounts/reauthenticate/?next=%2Faccounts%2F2fa%2Ftotp%2Factivate%2F")
    assert "staff must sign in with a second factor" in page.locator(".messages").inner_text()
    browsing.look("two-factor-admin-refused")
    page.locator("#id_password").fill(password_of("ops"))
    page.get_by_role("button", name="Confirm").click()
    page.wait_for_url("**/accounts/2fa/totp/activate/")
    browsing.open("/admin/")
    page.wait_for_url("**/accounts/2fa/totp/activate/")


def test_connecting_an_exchange_key_asks_for_the_code_again_and_the_page_advises_limiting_a_key(browsing, simulated_binance, settings):
    settings.EXCHANGE_EGRESS_ADDRESSES = ["203.0.113.10", "203.0.113.11"]
    member = make_member("nina", "Nina")
    simulator_account(simulated_binance, member, label="Binance main")
    page = browsing.page
    _sign_in(browsing, "nina")
    page.wait_for_url(browsing.base_url + "/")
    secret, _ = totp_turn_on(member)  # turned on in another browser: this session gave no code yet

    browsing.open("/settings/exchange-accounts/")
    assert "limit it to the platform's addresses: 203.0.113.10, 203.0.113.11" in page.locator("table").inner_text()
    browsing.look("exchange-accounts-confirm-first")
    page.get_by_role("link", name="Confirm with your authenticator").click()
    page.wait_for_url("**/accounts/2fa/reauthenticate/**")
    page.get_by_label("Code").fill(totp_code(secret))
    page.get_by_role("button", name="Confirm").click()

    page.wait_for_url(browsing.base_url + "/settings/exchange-accounts/")
    assert page.get_by_role("button", name="Connect").is_visible()
    browsing.look("exchange-accounts-confirmed")
