"""A follower edits a running copy's settings in a real browser (Debian's chromium): the Edit
page says what the change does to the open position before saving; the copy form with every
setting at a phone's 390 px. Screenshots go to screenshots/ (see conftest.py)."""

from decimal import Decimal

import pytest

from copytrade.models import Copy, FollowerPosition
from exchanges.services import exchange_account_create
from tests.marketplace.support import make_copy
from tests.web.conftest import DESKTOP, SCREENSHOTS
from tests.web.support import make_leader, make_member, password_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _look_also_at_390(browsing, name: str) -> None:
    browsing.look(name)
    browsing.page.set_viewport_size({"width": 390, "height": 844})
    scroll_width, inner_width = browsing.page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    browsing.page.screenshot(path=str(SCREENSHOTS / f"{name}-390.png"), full_page=True)
    assert scroll_width <= inner_width, f"{name} scrolls sideways at 390 px"
    browsing.page.set_viewport_size(DESKTOP)


def _sign_in(browsing, user) -> None:
    page = browsing.page
    browsing.open("/accounts/login/")
    page.get_by_label("Email or username").fill(user.username)
    page.locator("#id_password").fill(password_of(user.username))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(browsing.base_url + "/")


def test_a_follower_edits_a_running_copy_and_reads_what_the_change_does_before_saving(browsing, simulated_binance):
    leader = make_leader(make_member("alice", "Alice Trades"), name="Steady Breakouts", copiers=1)
    mia = make_member("mia", "Mia")
    exchange_account_create(owner=mia, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("2000")})
    other = make_leader(make_member("bob", "Bob Swings"), name="Swing Desk", copiers=0)
    copy = make_copy(mia, leader)
    Copy.objects.filter(pk=copy.pk).update(allocation_percent=Decimal("20"))
    FollowerPosition.objects.create(copy=copy, symbol="BTC/USDT", quantity=Decimal("0.01"), average_entry=Decimal("60000"))
    page = browsing.page
    _sign_in(browsing, mia)

    # The copy form shows every setting with its default, at a phone's width too.
    browsing.open(f"/leaders/{other.pk}/copy/")
    assert page.locator("#id_max_slippage_percent").input_value() == "1"
    assert "Default: 1 %." in page.inner_text(".copy-form")
    _look_also_at_390(browsing, "copy-start-settings")

    # A running copy offers an Edit; a change is reviewed before it is saved.
    browsing.open(f"/copies/{copy.pk}/")
    page.get_by_role("link", name="Edit settings").click()
    page.wait_for_url(f"**/copies/{copy.pk}/settings/")
    page.locator("#id_allocation_percent").fill("10")
    page.locator("#id_take_profit_percent").fill("5")
    page.get_by_role("button", name="Check what changes").click()
    review = page.locator("#review")
    review.wait_for()
    assert "your open BTC/USDT position is not resized" in review.inner_text()
    assert "BTC/USDT closes at 63,000" in review.inner_text()
    copy.refresh_from_db()
    assert copy.allocation_percent == Decimal("20")  # nothing saved yet
    _look_also_at_390(browsing, "copy-settings-review")

    page.get_by_role("button", name="Save these changes").click()
    page.wait_for_url(f"**/copies/{copy.pk}/")
    assert "Saved the settings of your copy of Steady Breakouts." in page.inner_text(".message-success")
    copy.refresh_from_db()
    assert (copy.allocation_percent, copy.take_profit_percent) == (Decimal("10"), Decimal("5"))
    _look_also_at_390(browsing, "copy-settings-saved")

    # A refused value is shown beside its field, and nothing changes.
    browsing.open(f"/copies/{copy.pk}/settings/")
    page.locator("#id_max_slippage_percent").fill("60")
    with browsing.refusal_expected():
        page.get_by_role("button", name="Check what changes").click()
        page.locator("#error-summary").wait_for()
    assert "max_slippage_percent must be between 0 and 50." in page.inner_text("#error-summary")
    _look_also_at_390(browsing, "copy-settings-refused")
