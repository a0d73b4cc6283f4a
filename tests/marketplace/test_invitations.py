"""Private strategies copied by invitation link: not listed on the leaderboard; a valid token
lets a follower see and copy it; the leader revokes a link and it lets no one else in."""

import pytest

from copytrade.models import Copy
from tests.copytrade import paper_account, signal_only_strategy
from tests.factories import make_user

pytestmark = pytest.mark.django_db


@pytest.fixture
def private(owner, simulated_binance):
    return signal_only_strategy(owner, name="Inner Circle", public=False)


def _start(client, user, strategy, **fields):
    account = user.exchange_accounts.first() or paper_account(user, usdt="10000")
    body = {"strategy_id": strategy.pk, "exchange_account_id": account.pk, "allocation_percent": "20", **fields}
    return client.post("/api/copy-trading/start", body, format="json")


def _invite(client, strategy) -> dict:
    answer = client.post(f"/api/marketplace/strategies/{strategy.pk}/invitations")
    assert answer.status_code == 201, answer.json()
    return answer.json()


def test_a_private_strategy_is_seen_and_copied_only_with_a_valid_invitation(client, client_for, owner, follower, private):
    follower_api = client_for(follower)
    assert follower_api.get(f"/api/copy-trading/leader/{private.pk}").status_code == 404
    assert _start(follower_api, follower, private).status_code == 404
    assert _start(follower_api, follower, private, invitation="not-a-token").status_code == 404

    invitation = _invite(client_for(owner), private)

    assert invitation["link"] == f"/leaders/{private.pk}/?invitation={invitation['token']}"
    seen = follower_api.get(f"/api/copy-trading/leader/{private.pk}", {"invitation": invitation["token"]})
    assert seen.status_code == 200 and seen.json()["name"] == "Inner Circle"
    client.force_login(follower)
    page = client.get(invitation["link"]).content.decode()
    assert f'href="/leaders/{private.pk}/copy/?invitation={invitation["token"]}"' in page
    assert "you see it by its leader's invitation" in page
    assert client.get(f"/leaders/{private.pk}/copy/?invitation={invitation['token']}").status_code == 200
    assert _start(follower_api, follower, private, invitation=invitation["token"]).status_code == 201
    assert all(row["id"] != private.pk for row in follower_api.get("/api/copy-trading/top").json()["results"])


def test_a_revoked_link_lets_no_one_else_in_and_the_copies_it_started_stay(client_for, owner, follower, private):
    invitation = _invite(client_for(owner), private)
    assert _start(client_for(follower), follower, private, invitation=invitation["token"]).status_code == 201
    late = make_user("late")

    revoked = client_for(owner).post(f"/api/marketplace/invitations/{invitation['id']}/revoke")

    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert client_for(late).get(f"/api/copy-trading/leader/{private.pk}", {"invitation": invitation["token"]}).status_code == 404
    assert _start(client_for(late), late, private, invitation=invitation["token"]).status_code == 404
    assert Copy.objects.get(follower=follower).status == Copy.Status.ACTIVE


def test_only_the_leader_makes_and_revokes_links_and_a_link_opens_only_its_own_strategy(client_for, owner, stranger, follower, private):
    other = signal_only_strategy(owner, name="Also Private", public=False)
    assert client_for(stranger).post(f"/api/marketplace/strategies/{private.pk}/invitations").status_code == 404
    invitation = _invite(client_for(owner), private)
    assert client_for(stranger).post(f"/api/marketplace/invitations/{invitation['id']}/revoke").status_code == 404

    assert _start(client_for(follower), follower, other, invitation=invitation["token"]).status_code == 404
