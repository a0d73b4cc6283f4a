"""`make demo` in small: the whole story runs end to end and prints its summary."""

import json
import re
from io import StringIO
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client

from billing.models import Invoice, Payout
from copytrade.models import CopiedTrade, Copy
from exchanges.models import ExchangeAccount
from marketplace.models import SignalProvider


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_a_small_demo_tells_the_whole_story(settings, capfd, tmp_path):
    out = StringIO()

    call_command("demo", followers=5, stdout=out, simulator_state=tmp_path / "simulator.json")
    terminal = capfd.readouterr()

    text = out.getvalue()
    for heading in ("every copied trade's outcome", "leaderboard", "monthly billing", "payouts", "where to look next"):
        assert heading in text, text
    assert "stop-loss closed its position" in text
    assert "slippage guard" in text
    # Words, never code names: reasons, notification kinds and statuses read as sentences.
    for code in ("slippage_exceeded", "awaiting_manual", "copied_trade_skipped", "below_exchange_minimum", "stop_loss"):
        assert code not in text, code
    assert "the price had moved further from the leader's price than your slippage limit allows" in text
    copies = CopiedTrade.objects.filter(follower__username__startswith="demo-")
    assert copies.count() > 0
    assert not copies.exclude(status__in=CopiedTrade.TERMINAL).exists()
    assert Copy.objects.filter(follower__username="demo-follower-01", pause_reason=Copy.PauseReason.STOP_LOSS).exists()
    assert Invoice.objects.filter(status=Invoice.Status.PAID).exists()
    assert set(Payout.objects.values_list("payee__username", flat=True)) >= {"demo-ai-lab", "demo-alice"}
    # The closing text sends each role where it may go (tests/test_roles.py holds them to it).
    carol = SignalProvider.objects.get(user__username="demo-carol")
    assert carol.status == "pending"
    assert f"/admin/marketplace/signalprovider/{carol.pk}/change/" in text and "demo-curator" in text
    assert "/admin/billing/" in text and "demo-billing" in text
    assert "Curators see providers and their record only; invoices and payouts are the billing role's." in text
    assert get_user_model().objects.get(username="demo-curator").groups.get().name == "curators"
    assert get_user_model().objects.get(username="demo-billing").groups.get().name == "billing"
    # The story alone on the terminal; log lines go to the log file it names.
    log_file = re.search(r"the log \(warnings, worker and simulator output\): (\S+)", text).group(1)
    assert "copy stop-loss" in Path(log_file).read_text()  # execution's WARNING line for follower 1
    assert "WARNING" not in terminal.out + terminal.err and " INFO " not in terminal.out + terminal.err
    # The accounts it made live on under `make run`: its simulator starts from this snapshot.
    snapshot = json.loads((tmp_path / "simulator.json").read_text())
    keys = {account["api_key"] for account in snapshot["accounts"]}
    demo_accounts = ExchangeAccount.objects.filter(owner__username__startswith="demo-", exchange_id="binance")
    assert demo_accounts.exists() and {account.api_key for account in demo_accounts} <= keys
    assert "`make run` carries on from them" in text


@pytest.mark.deep
@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_the_demo_runs_twice_resetting_only_its_own_data(django_user_model, tmp_path):
    bystander = django_user_model.objects.create_user(username="not-a-demo-user")

    outputs = [StringIO(), StringIO()]

    call_command("demo", followers=2, days=10, stdout=outputs[0], simulator_state=tmp_path / "first.json")
    first = set(CopiedTrade.objects.values_list("pk", flat=True))
    call_command("demo", followers=2, days=10, stdout=outputs[1], simulator_state=tmp_path / "second.json")

    assert first.isdisjoint(CopiedTrade.objects.values_list("pk", flat=True))
    assert django_user_model.objects.filter(pk=bystander.pk).exists()
    # Both runs show real figures in the leaderboard's default window, whatever today's date.
    for output in outputs:
        text = output.getvalue()
        assert "window=30d" in text
        board = text[text.index("leaderboard (GET") :].split("==>")[0]
        # the AI strategy and Alice replayed a record long enough to be ranked, at the market's prices
        for strategy in ("Momentum AI", "Alice Swing"):
            row = next(line for line in board.splitlines() if line.startswith(strategy))
            total_return, sharpe = re.search(r"\s(-?\d+\.\d\d) %\s+(\S+)\s", row).groups()
            assert total_return != "0.00" and sharpe != "-", board
            assert row.rstrip().endswith("yes"), board
        assert "Momentum Lab" in board and "demo-ai-lab" not in board  # display names, never usernames
        assert "30 days" in board
    # It ends with the web app's address and logins that work there, one per role.
    text = outputs[1].getvalue()
    assert "the web app: http://127.0.0.1:8000/" in text
    logins = re.findall(r"^(?:web app, )?(\w+)[^\n]*?http://127\.0\.0\.1:8000/\S*\s+(demo-[\w-]+) / (\S+)", text, re.M)
    assert [who for who, _, _ in logins] == ["follower", "leader", "provider", "curator", "billing"]
    for _, username, password in logins[:4]:
        client = Client()
        response = client.post("/accounts/login/", {"login": username, "password": password})
        assert response.status_code == 302, f"{username} could not sign in"
        assert client.get("/copies/").status_code == 200
