"""Copy quality on the pages (issue 27): the leader page's panel over all copiers and each
copy's own figures on My Copies, at 1280 and 375 px (screenshots in screenshots/)."""

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from copytrade.models import CopiedTrade
from tests.factories import CopiedTradeFactory, LeaderTradeFactory
from tests.marketplace.support import make_copy
from tests.web.support import make_leader, make_member, password_of

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.django_db(transaction=True)]


def _log_in(browsing, username: str) -> None:
    page = browsing.page
    browsing.open("/accounts/login/")
    page.get_by_label("Email or username").fill(username)
    page.locator("#id_password").fill(password_of(username))
    page.get_by_role("button", name="Sign In").click()
    page.wait_for_url(browsing.base_url + "/")


def _copied(copy, leader_trade, *, gap: str | None, delay_ms: int | None, place: int, **extra) -> CopiedTrade:
    return CopiedTradeFactory(
        copy=copy,
        leader_trade=leader_trade,
        sequence=leader_trade.sequence,
        side=leader_trade.side,
        effect=leader_trade.effect,
        finished_at=timezone.now() - timedelta(days=2),
        delay_ms=delay_ms,
        price_gap_bps=None if gap is None else Decimal(gap),
        fanout_place=place,
        **extra,
    )


def test_the_leader_page_and_my_copies_show_how_faithfully_copies_followed(browsing):
    leader = make_leader(make_member("lena", "Lena Swing"), name="Swing Majors", total_return=0.06, copiers=3, override="0")
    mia = make_member("mia", "Mia")
    mine = make_copy(mia, leader)
    others = [make_copy(make_member(f"copier{n}", f"Copier {n}"), leader) for n in range(2)]
    for sequence in (1, 2, 3):
        trade = LeaderTradeFactory(strategy=leader, sequence=sequence, side="buy" if sequence < 3 else "sell")
        _copied(mine, trade, gap=f"{sequence * 1.25:.2f}", delay_ms=380 + 40 * sequence, place=1, pnl_billing=Decimal("4"))
        _copied(others[0], trade, gap="-0.80", delay_ms=610, place=2)
        if sequence == 3:
            _copied(
                others[1],
                trade,
                gap=None,
                delay_ms=None,
                place=3,
                status=CopiedTrade.Status.SKIPPED,
                reason=CopiedTrade.Reason.SLIPPAGE_EXCEEDED,
            )
        else:
            _copied(others[1], trade, gap="7.10", delay_ms=2450, place=3)
    page = browsing.page

    # A visitor reads the leader's copy quality over all its copiers.
    browsing.open(f"/leaders/{leader.pk}/")
    panel = page.locator("#copy-quality")
    text = panel.inner_text()
    assert "How faithfully copiers followed" in text
    assert "88.9\u00a0% · 8 of 9" in text  # one of nine copies skipped
    assert "1 × the price had moved further from the leader's price than your slippage limit allows" in text
    browsing.look("leader-copy-quality")

    # Mia reads her own copy's figures on My Copies.
    _log_in(browsing, "mia")
    browsing.open("/copies/")
    own = page.locator(f"#copy-{mine.pk}-quality").inner_text()
    assert "How faithfully this copy followed" in own
    assert "100.0\u00a0% · 3 of 3" in own
    assert "+2.50\u00a0bp" in own  # the median of 1.25, 2.50 and 3.75
    assert "420\u00a0ms" not in own and "460\u00a0ms" in own  # the median of 420, 460 and 500 ms
    # and each copied trade says how late and how far from the leader's price it filled
    assert "420\u00a0ms after the leader · price gap +1.25\u00a0bp" in page.locator(f"#copy-{mine.pk}").inner_text()
    browsing.look("my-copies-quality")
