"""`make demo` in small: the whole story runs end to end and prints its summary."""

from io import StringIO

import pytest
from django.core.management import call_command

from billing.models import Invoice, Payout
from copytrade.models import CopiedTrade, CopyRelationship


@pytest.mark.django_db(transaction=True)
def test_a_small_demo_tells_the_whole_story(settings):
    out = StringIO()

    call_command("demo", followers=5, stdout=out)

    text = out.getvalue()
    for heading in ("every copied trade's outcome", "leaderboard", "monthly billing", "payouts", "where to look next"):
        assert heading in text, text
    assert "stop-loss closed its position" in text
    assert "slippage guard" in text
    copies = CopiedTrade.objects.filter(follower__username__startswith="demo-")
    assert copies.count() > 0
    assert not copies.exclude(status__in=CopiedTrade.TERMINAL).exists()
    assert CopyRelationship.objects.filter(follower__username="demo-follower-01", pause_reason__startswith="copy stop-loss").exists()
    assert Invoice.objects.filter(status=Invoice.Status.PAID).exists()
    assert set(Payout.objects.values_list("payee__username", flat=True)) >= {"demo-ai-lab", "demo-alice"}


@pytest.mark.django_db(transaction=True)
def test_the_demo_runs_twice_resetting_only_its_own_data(django_user_model):
    bystander = django_user_model.objects.create_user(username="not-a-demo-user")

    call_command("demo", followers=2, days=5, stdout=StringIO())
    first = set(CopiedTrade.objects.values_list("pk", flat=True))
    call_command("demo", followers=2, days=5, stdout=StringIO())

    assert first.isdisjoint(CopiedTrade.objects.values_list("pk", flat=True))
    assert django_user_model.objects.filter(pk=bystander.pk).exists()
