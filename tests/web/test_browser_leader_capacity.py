"""A leader decides who can copy a strategy in a real browser (Debian's chromium): sets the
follower slots, makes it private, creates invitation links and revokes one after confirming;
a follower opens the live link and reaches the copy form. Screenshots go to screenshots/."""

from decimal import Decimal

import pytest

from exchanges.services import exchange_account_create
from marketplace.models import StrategyCapacity, StrategyInvitation
from tests.web.support import make_leader, make_member, password_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _sign_in(browsing, user) -> None:
    page = browsing.page
    page.context.clear_cookies()
    browsing.open("/accounts/login/")
    page.get_by_label("Email or username").fill(user.username)
    page.locator("#id_password").fill(password_of(user.username))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(browsing.base_url + "/")


def test_a_leader_sets_slots_invites_and_revokes_and_a_follower_opens_the_link(browsing, simulated_binance):
    lena = make_member("lena", "Lena Leads")
    strategy = make_leader(lena, name="Quiet Carry", copiers=1)
    mia = make_member("mia", "Mia")
    exchange_account_create(owner=mia, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("2000")})
    page = browsing.page
    _sign_in(browsing, lena)

    browsing.open("/leader/strategies/")
    card = page.locator(f"#who-{strategy.pk}")
    card.get_by_label("Follower slots (optional)").fill("2")
    card.get_by_role("button", name="Save capital and slots").click()
    page.wait_for_url(f"**/leader/strategies/#who-{strategy.pk}")
    assert "it takes 2 followers and has 1, so 1 can still join" in page.inner_text(".messages")
    assert StrategyCapacity.objects.get(strategy=strategy).follower_slots == 2

    card.get_by_label("Private: only people with an invitation link").check()
    card.get_by_role("button", name="Save who finds it").click()
    page.wait_for_url(f"**/leader/strategies/#who-{strategy.pk}")
    assert "is private" in page.inner_text(".messages")

    for _ in range(2):
        card.get_by_role("button", name="Create an invitation link").click()
        page.wait_for_url(f"**/leader/strategies/#who-{strategy.pk}")
    first, second = StrategyInvitation.objects.filter(strategy=strategy).order_by("pk")
    browsing.look("leader-who-can-copy")

    # Revoking asks first: dismissed, nothing changes; accepted, the link is revoked.
    revoke = page.locator(f"#invitation-{first.pk}").get_by_role("button", name="Revoke")
    page.once("dialog", lambda dialog: dialog.dismiss())
    revoke.click()
    first.refresh_from_db()
    assert first.revoked_at is None
    page.once("dialog", lambda dialog: dialog.accept())
    revoke.click()
    page.wait_for_url(f"**/leader/strategies/#who-{strategy.pk}")
    first.refresh_from_db()
    assert first.revoked_at is not None and "Invitation link revoked" in page.inner_text(".messages")
    link = page.locator(f"#invitation-link-{second.pk}").input_value()
    assert link.endswith(f"/leaders/{strategy.pk}/?invitation={second.token}")
    browsing.look("leader-invitation-revoked")

    # Recommended settings, in the words of the follower's copy form.
    card.get_by_text("Recommended settings for followers").click()
    card.get_by_label("Share of your account (%)").fill("15")
    card.get_by_label("Slippage limit (%)").fill("0.5")
    browsing.look("leader-recommended-settings")
    card.get_by_role("button", name="Save recommended settings").click()
    page.wait_for_url(f"**/leader/strategies/#who-{strategy.pk}")
    assert "what a follower submits is what their copy gets" in page.inner_text(".messages")

    # The follower opens the live link: the private strategy, and its copy form.
    _sign_in(browsing, mia)
    page.goto(link)
    assert "you see it by its leader's invitation" in page.inner_text("main")
    page.get_by_role("link", name="Copy Quiet Carry").first.click()
    page.wait_for_url(f"**/leaders/{strategy.pk}/copy/?invitation={second.token}")
    assert page.locator("#id_allocation_percent").input_value() == "15"  # the leader's recommendation, theirs to change
    browsing.look("follower-invited-copy-form")
