"""Copying from the pages: the copy form with its fee terms and consent, the allocation
preview, errors inline from `copy_start`; My Copies with figures and trades in words;
pause, resume and stop."""

from datetime import UTC, datetime
from decimal import Decimal

import pytest

from copytrade.models import CopiedTrade, Copy
from copytrade.services.strategies import strategy_create
from exchanges.models import ExchangeAccount
from exchanges.services import exchange_account_create
from tests.marketplace.support import make_copy, make_trade
from tests.web.support import make_leader, make_member, make_provider

pytestmark = pytest.mark.django_db


@pytest.fixture
def member(db):
    return make_member("mia", "Mia")


@pytest.fixture
def leader(db):
    alice = make_member("alice", "Alice Trades")
    make_provider(alice, performance_percent="15", subscription="29")
    return make_leader(alice, name="Steady Breakouts", copiers=1)


@pytest.fixture
def signed_in(client, member):
    client.force_login(member)
    return client


@pytest.fixture
def practice(member, simulated_binance):
    # Paper accounts are priced by the (simulated) Binance.
    return exchange_account_create(owner=member, exchange_id="paper", label="Practice", starting_balance={"USDT": Decimal("2000")})


# The terms of a leader who is no provider: the copy costs nothing.
NO_FEES = {"terms_rate_percent": "0", "terms_subscription_fee_monthly": "0"}


def _copy_form(account, **overrides) -> dict:
    data = {
        "exchange_account": account.pk,
        "sizing_mode": "proportional",
        "allocation_percent": "25",
        "max_drawdown_stop": "30",
        "max_order_notional": "",
        "terms_rate_percent": "15",
        "terms_subscription_fee_monthly": "29",
        "consent": "on",
    }
    return {**data, **overrides}


@pytest.mark.parametrize("path", ["/leaders/1/copy/", "/leaders/1/copy/preview/", "/copies/", "/copies/1/"])
def test_an_anonymous_visitor_is_sent_to_log_in(client, path):
    response = client.get(path)

    assert response.status_code == 302 and response["Location"] == f"/accounts/login/?next={path}"


def test_the_leader_page_offers_a_copy_button_to_members_and_sign_in_to_visitors(client, member, leader):
    visitor_html = client.get(f"/leaders/{leader.pk}/").content.decode()
    client.force_login(member)
    member_html = client.get(f"/leaders/{leader.pk}/").content.decode()

    assert "Sign in to copy" in visitor_html and f"next=/leaders/{leader.pk}/copy/" in visitor_html
    assert f'href="/leaders/{leader.pk}/copy/"' in member_html and "Sign in to copy" not in member_html


def test_the_copy_form_states_the_fees_in_words_with_a_worked_example(signed_in, leader, practice):
    html = signed_in.get(f"/leaders/{leader.pk}/copy/").content.decode()

    assert "15 % of new profit above your high-water mark" in html and "+ 29.00 USD a month" in html
    # Until the preview redraws it at the chosen capital: 1,000 USDT, +10 % = 100.00 USD, 15 % of it, 29 a month.
    assert "On 1,000.00\u00a0USDT of copy capital" in html
    assert "is <strong>2.90\u00a0% of this capital a month</strong>" in html
    assert "<dt>Performance fee, 15.00\u00a0% of it</dt><dd>&minus;15.00\u00a0USD</dd>" in html
    assert '<dt>What you keep</dt><dd class="gain">+56.00\u00a0USD</dd>' in html
    # r × 1,000 × 0.85 = 29: r = 3.41 %.
    assert "must make <strong>3.41\u00a0% a month</strong>" in html
    assert "new profit" in html and "1,000.00 USDT of new profit" not in html
    assert "10 days of a 30-day month cost 9.67 USD" in html
    assert 'type="range"' in html and "Practice (paper)" in html
    assert 'name="consent"' in html


def test_the_preview_redraws_the_worked_example_at_the_chosen_capital(signed_in, leader, practice):
    # 25 % of 2,000 USDT: 500 USDT; +10 % is 50.00, 15 % of it 7.50, 29.00 a month: you keep 13.50.
    html = signed_in.get(
        f"/leaders/{leader.pk}/copy/preview/", {"exchange_account": practice.pk, "allocation_percent": "25"}
    ).content.decode()

    assert 'id="fees-at-capital" class="fees-at-capital" aria-live="polite" hx-swap-oob="true"' in html
    assert "On 500.00\u00a0USDT of copy capital" in html
    assert '<dd id="preview-subscription">5.80\u00a0% a month</dd>' in html
    assert '<dt>What you keep</dt><dd class="gain">+13.50\u00a0USD</dd>' in html
    # r × 500 × 0.85 = 29: r = 6.82 %.
    assert "must make <strong>6.82\u00a0% a month</strong>" in html


def test_without_an_exchange_account_the_form_sends_you_to_connect_one(signed_in, leader):
    html = signed_in.get(f"/leaders/{leader.pk}/copy/").content.decode()

    assert "First, connect an exchange account" in html and 'name="consent"' not in html


def test_the_preview_shows_the_copy_capital_and_what_remains_of_the_chosen_account(signed_in, member, leader, practice):
    other = make_leader(make_member("bob", "Bob"), name="Other")
    elsewhere = make_leader(make_member("carl", "Carl"), name="Elsewhere")
    Copy.objects.filter(pk=make_copy(member, other).pk).update(exchange_account=practice, allocation_percent=Decimal("60"))
    # A copy on another account takes nothing from this one.
    Copy.objects.filter(pk=make_copy(member, elsewhere).pk).update(allocation_percent=Decimal("90"))

    response = signed_in.get(f"/leaders/{leader.pk}/copy/preview/", {"exchange_account": practice.pk, "allocation_percent": "25"})
    over = signed_in.get(f"/leaders/{leader.pk}/copy/preview/", {"exchange_account": practice.pk, "allocation_percent": "50"})

    html = response.content.decode()
    assert "500.00\u00a0USDT" in html and "2,000.00\u00a0USDT" in html and "15.00\u00a0%" in html
    assert "over 100 % of it" in over.content.decode() and "Choose at most 40.00\u00a0%" in over.content.decode()


def test_a_real_and_a_paper_account_are_each_copied_with_100_percent_and_101_is_refused_inline(
    signed_in, member, leader, practice, simulated_binance
):
    credentials = simulated_binance.create_account(balances={"USDT": "4000"})
    binance = exchange_account_create(
        owner=member, exchange_id="binance", label="Binance main", api_key=credentials["api_key"], api_secret=credentials["api_secret"]
    )
    other = make_leader(make_member("bob", "Bob"), name="Other")
    third = make_leader(make_member("carl", "Carl"), name="Third")

    on_paper = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, allocation_percent="100"))
    on_real = signed_in.post(f"/leaders/{other.pk}/copy/", _copy_form(binance, allocation_percent="100", **NO_FEES))
    refused = signed_in.post(f"/leaders/{third.pk}/copy/", _copy_form(binance, allocation_percent="1", **NO_FEES))

    assert (on_paper.status_code, on_real.status_code) == (302, 302)
    assert sorted(Copy.objects.filter(follower=member).values_list("copy_capital", flat=True)) == [
        Decimal("2000"),
        Decimal("4000"),
    ]
    assert refused.status_code == 400
    assert "Allocation would reach 101.00% of exchange account &#x27;Binance main&#x27;" in refused.content.decode()
    assert not Copy.objects.filter(strategy=third).exists()


def test_the_preview_of_someone_elses_account_is_not_found(signed_in, leader):
    theirs = exchange_account_create(
        owner=make_member("oscar", "Oscar"), exchange_id="paper", label="Theirs", starting_balance={"USDT": Decimal("100")}
    )

    response = signed_in.get(f"/leaders/{leader.pk}/copy/preview/", {"exchange_account": theirs.pk, "allocation_percent": "25"})

    assert response.status_code == 404


def test_starting_a_copy_with_consent_takes_25_percent_of_the_account(signed_in, member, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice))

    copy = Copy.objects.get(follower=member)
    assert response.status_code == 302 and response["Location"] == f"/copies/#copy-{copy.pk}"
    assert copy.allocation_percent == 25 and copy.copy_capital == Decimal("500")
    assert copy.max_drawdown_stop == 30 and copy.strategy == leader


def test_without_consent_nothing_starts_and_the_box_says_so(signed_in, member, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, consent=""))

    assert response.status_code == 400 and "Tick this box to agree to the fees" in response.content.decode()
    assert not Copy.objects.filter(follower=member).exists()


def test_over_100_percent_of_one_account_is_refused_inline_by_the_service(signed_in, member, leader, practice):
    other = make_leader(make_member("bob", "Bob"), name="Other")
    Copy.objects.filter(pk=make_copy(member, other).pk).update(exchange_account=practice, allocation_percent=Decimal("90"))

    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, allocation_percent="25"))

    html = response.content.decode()
    assert response.status_code == 400
    assert "Allocation would reach 115.00% of exchange account &#x27;Practice&#x27;" in html and 'aria-invalid="true"' in html
    assert Copy.objects.filter(follower=member).count() == 1


def test_a_share_over_100_is_refused_by_the_form(signed_in, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, allocation_percent="150"))

    assert response.status_code == 400 and "Ensure this value is less than or equal to 100." in response.content.decode()


def test_a_copy_onto_an_account_that_leads_a_strategy_is_refused_in_words(signed_in, member, leader, practice):
    strategy_create(owner=member, name="Mia's own", leader_account_id=practice.pk)

    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice))

    html = response.content.decode()
    assert response.status_code == 400
    assert "Exchange account &#x27;Practice&#x27; leads your strategy &#x27;Mia&#x27;s own&#x27;" in html
    assert "never both" in html
    assert not Copy.objects.filter(follower=member).exists()


def test_the_sizing_chosen_needs_its_value(signed_in, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, sizing_mode="fixed", allocation_percent=""))

    assert response.status_code == 400 and "Enter a value for the sizing you chose." in response.content.decode()


def test_fees_changed_since_the_page_was_read_are_not_agreed_to(signed_in, member, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, terms_rate_percent="10"))

    assert (
        response.status_code == 400
        and "The fee terms of &#x27;Steady Breakouts&#x27; changed: they are now 15" in response.content.decode()
    )
    assert not Copy.objects.filter(follower=member).exists()


def test_the_leader_cannot_copy_their_own_strategy(client, leader):
    client.force_login(leader.owner)

    response = client.get(f"/leaders/{leader.pk}/copy/")

    assert response.status_code == 302 and response["Location"] == f"/leaders/{leader.pk}/"


# --- My Copies ------------------------------------------------------------------------------


def test_my_copies_shows_the_figures_and_each_trade_in_words(signed_in, member, leader):
    copy = make_copy(member, leader)
    Copy.objects.filter(pk=copy.pk).update(
        copy_equity=Decimal("1090"), realized_pnl=Decimal("90"), current_drawdown_percent=Decimal("6"), max_drawdown_stop=Decimal("20")
    )
    opened = make_trade(leader, sequence=1, side="buy", amount="0.1", price="60000", traded_at=datetime(2026, 1, 2, tzinfo=UTC))
    CopiedTrade.objects.create(
        copy=copy,
        leader_trade=opened,
        sequence=1,
        follower=member,
        leader_user=leader.owner,
        strategy=leader,
        symbol="BTC/USDT",
        side="buy",
        effect="open",
        status=CopiedTrade.Status.FILLED,
        filled_amount=Decimal("0.001500000000"),
        average_price=Decimal("60000.00000000"),
        fee=Decimal("0.49"),
        pnl_quote=Decimal("-0.49"),
        client_order_id="c1",
        finished_at=datetime(2026, 1, 2, tzinfo=UTC),
    )
    skipped = make_trade(leader, sequence=2, side="buy", amount="0.001", price="61000", traded_at=datetime(2026, 1, 3, tzinfo=UTC))
    CopiedTrade.objects.create(
        copy=copy,
        leader_trade=skipped,
        sequence=2,
        follower=member,
        leader_user=leader.owner,
        strategy=leader,
        symbol="BTC/USDT",
        side="buy",
        effect="increase",
        status=CopiedTrade.Status.SKIPPED,
        reason=CopiedTrade.Reason.BELOW_EXCHANGE_MINIMUM,
        follower_size_quote=Decimal("3.5"),
        client_order_id="c2",
        finished_at=datetime(2026, 1, 3, tzinfo=UTC),
    )

    html = signed_in.get("/copies/").content.decode()

    assert "Steady Breakouts" in html and "Alice Trades" in html
    assert "1,090.00\u00a0USDT" in html and "+90.00\u00a0USDT" in html
    assert "6.0\u00a0% of 20.0\u00a0%" in html
    assert "Filled: bought 0.0015 BTC/USDT at 60,000." in html
    assert "Skipped: your share (3.50 USDT) was below the exchange&#x27;s minimum order." in html
    assert "below_exchange_minimum" not in html
    # the buy's trading fee reads as a fee, never as a loss
    assert "fee 0.49\u00a0USDT" in html and "P&amp;L \u22120.49" not in html and "60000.00000000" not in html


def test_my_copies_shows_the_fees_agreed_to_and_a_change_announced_with_its_month(signed_in, member, leader, practice):
    from marketplace.services import provider_terms_update

    assert signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice)).status_code == 302
    provider_terms_update(
        provider_id=leader.owner.signal_provider.pk,
        actor=leader.owner,
        performance_fee_percent=Decimal("25"),
        subscription_fee_monthly=Decimal("29"),
    )

    html = signed_in.get("/copies/").content.decode()

    assert "Fees you agreed to: 15 % of new profit above your high-water mark + 29.00 USD a month." in html
    assert ", as you were told: 25 % of new profit above your high-water mark + 29.00 USD a month" in html


def test_a_paused_copy_says_why_and_that_exits_still_follow(signed_in, member, leader):
    copy = make_copy(member, leader, status=Copy.Status.PAUSED)
    Copy.objects.filter(pk=copy.pk).update(
        pause_reason=Copy.PauseReason.STOP_LOSS, pause_detail={"drawdown_percent": "31.0000", "limit_percent": "30.00"}
    )

    html = signed_in.get("/copies/").content.decode()

    assert "Paused: its stop-loss closed its positions at market: the copy fell 31 % below its peak, past your 30 % limit." in html
    assert "stop_loss" not in html
    assert "the copy still follows" in html and "Resume" in html


def test_pause_by_htmx_swaps_the_card(signed_in, member, leader):
    copy = make_copy(member, leader)

    response = signed_in.post(f"/copies/{copy.pk}/pause/", headers={"HX-Request": "true"})

    html = response.content.decode()
    assert response.status_code == 200 and f'id="copy-{copy.pk}"' in html and "<html" not in html
    assert "exits of what it holds are still copied" in html
    assert Copy.objects.get(pk=copy.pk).status == Copy.Status.PAUSED


def test_resume_of_an_active_copy_shows_the_services_refusal(signed_in, member, leader):
    copy = make_copy(member, leader)

    response = signed_in.post(f"/copies/{copy.pk}/resume/", follow=True)

    assert "Only a paused copy can be resumed; this one is active." in response.content.decode()


def test_stopping_and_keeping_the_positions(signed_in, member, leader):
    copy = make_copy(member, leader)

    response = signed_in.post(f"/copies/{copy.pk}/stop/", {"close_positions": ""}, follow=True)

    assert "its open positions stay on your account" in response.content.decode()
    assert Copy.objects.get(pk=copy.pk).status == Copy.Status.STOPPED


def test_someone_elses_copy_is_not_found_and_stays_as_it_was(signed_in, leader):
    theirs = make_copy(make_member("oscar", "Oscar"), leader)

    responses = [
        signed_in.get(f"/copies/{theirs.pk}/"),
        signed_in.post(f"/copies/{theirs.pk}/pause/"),
        signed_in.post(f"/copies/{theirs.pk}/stop/", {"close_positions": "1"}),
    ]

    assert [response.status_code for response in responses] == [404, 404, 404]
    assert Copy.objects.get(pk=theirs.pk).status == Copy.Status.ACTIVE


def test_one_copy_lists_every_trade(signed_in, member, leader):
    copy = make_copy(member, leader)

    response = signed_in.get(f"/copies/{copy.pk}/")

    assert response.status_code == 200 and "Every copied trade" in response.content.decode()


def test_the_leader_page_sends_a_follower_who_copies_to_the_copy(signed_in, member, leader):
    copy = make_copy(member, leader)

    html = signed_in.get(f"/leaders/{leader.pk}/").content.decode()

    assert "You copy this leader" in html and f'href="/copies/#copy-{copy.pk}"' in html
    assert f'href="/leaders/{leader.pk}/copy/"' not in html


def test_the_pnl_chart_draws_the_copys_realised_pnl_by_day(signed_in, member, leader):
    copy = make_copy(member, leader)
    for sequence, (day, pnl) in enumerate(((3, "40"), (3, "-10"), (5, "-50")), start=1):
        trade = make_trade(
            leader, sequence=sequence, side="sell", amount="0.1", price="60000", traded_at=datetime(2026, 1, day, tzinfo=UTC)
        )
        CopiedTrade.objects.create(
            copy=copy,
            leader_trade=trade,
            sequence=sequence,
            follower=member,
            leader_user=leader.owner,
            strategy=leader,
            symbol="BTC/USDT",
            side="sell",
            effect="close",
            status=CopiedTrade.Status.FILLED,
            pnl_quote=Decimal(pnl),
            pnl_billing=Decimal(pnl),
            client_order_id=f"c{sequence}",
            finished_at=datetime(2026, 1, day, 12, tzinfo=UTC),
        )

    html = signed_in.get("/copies/").content.decode()

    # 1 Jan (the start) 0, 3 Jan +30, 5 Jan -20: three points, the last one below zero.
    assert 'class="chart chart-pnl"' in html
    assert "Realised P&amp;L of your copy of Steady Breakouts from 1 Jan 2026 to 5 Jan 2026: 0.00 to \u221220.00" in html


def test_an_account_without_funds_is_refused_inline_by_the_service(signed_in, member, leader, simulated_binance):
    empty = ExchangeAccount.objects.create(owner=member, exchange_id="paper", label="Empty")  # no balance at all

    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(empty))

    assert response.status_code == 400
    assert "Exchange account &#x27;Empty&#x27; has no USDT equity to copy with." in response.content.decode()
    assert not Copy.objects.filter(follower=member).exists()


def test_the_portfolio_counts_an_account_shared_by_whole_account_copies_once(signed_in, member, leader):
    other = make_leader(make_member("bob", "Bob"), name="Other")
    for strategy, pnl in ((leader, "12.50"), (other, "-2.50")):
        copy = make_copy(member, strategy, copy_capital=Decimal("10000"))
        Copy.objects.filter(pk=copy.pk).update(
            sizing_mode="fixed", allocation_percent=None, fixed_notional=Decimal("400"), realized_pnl=Decimal(pnl)
        )

    html = signed_in.get("/copies/").content.decode()

    stats = html[html.index('aria-label="All your copies together"') :]
    assert "<dt>Capital copying</dt><dd>10,000.00\u00a0USDT</dd>" in stats
    # Each card says what is its own: a size per position, and the account it shares.
    assert html.count("<dt>Size</dt><dd>400.00\u00a0USDT a position</dd>") == 2
    assert html.count("<dt>Account at start, shared</dt><dd>10,000.00\u00a0USDT</dd>") == 2
    assert "<dt>Capital</dt>" not in html
    assert "+10.00\u00a0USDT" in stats


def test_a_failed_submit_lists_the_errors_at_the_top_and_takes_the_focus(signed_in, member, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, consent="", max_drawdown_stop="0"))

    html = response.content.decode()
    summary = html[html.index('<div class="error-summary"') : html.index('<div class="grid-2">')]
    assert response.status_code == 400
    assert 'tabindex="-1" autofocus' in summary
    assert '<a href="#id_max_drawdown_stop">Copy stop-loss (%): Ensure this value is greater than or equal to 0.01.</a>' in summary
    assert '<a href="#id_consent">' in summary


def test_an_existing_copier_is_told_before_filling_the_form(signed_in, member, leader, practice):
    copy = make_copy(member, leader)

    response = signed_in.get(f"/leaders/{leader.pk}/copy/", follow=True)

    assert response.redirect_chain == [(f"/copies/{copy.pk}/", 302)]
    assert "You already copy this strategy: since" in response.content.decode()


def test_the_chart_caption_is_true_after_one_closed_trade_on_the_first_day(signed_in, member, leader):
    copy = make_copy(member, leader)
    CopiedTrade.objects.create(
        copy=copy,
        sequence=1,
        follower=member,
        leader_user=leader.owner,
        strategy=leader,
        symbol="BTC/USDT",
        side="sell",
        effect="close",
        status="filled",
        pnl_quote=Decimal("12.50"),
        client_order_id="c1",
        finished_at=copy.started_at,
    )

    html = signed_in.get(f"/copies/{copy.pk}/").content.decode()

    assert "Closed trades so far, all on 1 Jan 2026: +12.50\u00a0USDT. The chart draws a line once trades close on a second day." in html
    assert "starts with the copy&#x27;s first" not in html


def test_the_leader_page_shows_what_copiers_kept_beside_the_leaders_return(client, member, leader):
    before = client.get(f"/leaders/{leader.pk}/").content.decode()
    make_copy(member, leader)  # a copy of 1,000 USDT since 1 Jan 2026: nothing made, a subscription paid

    after = client.get(f"/leaders/{leader.pk}/").content.decode()

    assert "<dt>Leader's return, 30 days</dt>" in before and "+12.0\u00a0%" in before
    assert "no copier in the last 30 days" in before
    kept = after[after.index('id="copiers-kept"') :]
    assert 'class="loss">\u2212' in kept[:200] and "median of 1 copier, after fees" in kept


def test_a_copy_started_on_the_page_takes_its_leverage_policy_and_margin_mode(signed_in, member, leader, practice):
    form = _copy_form(practice, leverage_policy="cap", leverage="5", margin_mode="cross")

    response = signed_in.post(f"/leaders/{leader.pk}/copy/", form)

    copy = Copy.objects.get(follower=member)
    assert response.status_code == 302
    assert (copy.leverage_policy, copy.leverage, copy.margin_mode) == ("cap", 5, "cross")


def test_a_fixed_leverage_without_a_number_is_refused_inline(signed_in, member, leader, practice):
    response = signed_in.post(f"/leaders/{leader.pk}/copy/", _copy_form(practice, leverage_policy="fixed", leverage=""))

    assert response.status_code == 400 and "Enter the leverage for the policy you chose." in response.content.decode()
    assert not Copy.objects.filter(follower=member).exists()
