from core.models import Notification
from core.notifications import notification_send


def test_a_user_lists_only_their_own_notifications_newest_first(owner, stranger, client_for):
    older = notification_send(user=owner, kind=Notification.Kind.PAYOUT, title="Payout sent", email=False)
    newer = notification_send(user=owner, kind=Notification.Kind.INVOICE, title="Invoice ready", email=False)
    notification_send(user=stranger, kind=Notification.Kind.INVOICE, title="Not yours", email=False)

    response = client_for(owner).get("/api/notifications/")

    assert response.status_code == 200
    assert [row["id"] for row in response.data["results"]] == [newer.pk, older.pk]
    assert response.data["results"][0]["read_at"] is None
    assert (response.data["results"][1]["kind"], response.data["results"][1]["kind_text"]) == ("payout", "A payout was made to you")


def test_marking_read_hides_it_from_the_unread_list(owner, client_for):
    first = notification_send(user=owner, kind=Notification.Kind.PAYOUT, title="One", email=False)
    second = notification_send(user=owner, kind=Notification.Kind.PAYOUT, title="Two", email=False)
    client = client_for(owner)

    marked = client.post(f"/api/notifications/{first.pk}/read")
    unread = client.get("/api/notifications/", {"unread": "true"})

    assert marked.status_code == 200
    assert marked.data["read_at"] is not None
    assert [row["id"] for row in unread.data["results"]] == [second.pk]

    assert client.post("/api/notifications/read-all").data == {"marked_read": 1}
    assert not Notification.objects.filter(user=owner, read_at__isnull=True).exists()


def test_someone_elses_notification_is_not_found_and_stays_unread(owner, stranger, client_for):
    theirs = notification_send(user=stranger, kind=Notification.Kind.PAYOUT, title="Theirs", email=False)

    response = client_for(owner).post(f"/api/notifications/{theirs.pk}/read")

    assert response.status_code == 404
    assert set(response.data) == {"message", "extra"}
    theirs.refresh_from_db()
    assert theirs.read_at is None


def test_notifications_need_a_login_and_valid_filters(owner, api_client, client_for):
    assert api_client.get("/api/notifications/").status_code in (401, 403)
    assert client_for(owner).get("/api/notifications/", {"unread": "perhaps"}).status_code == 400
