"""Log lines an operator can read: a refused request is one line, a routine 403 is INFO, and
nothing is printed twice."""

import logging

import pytest


@pytest.mark.django_db
def test_a_refused_admin_page_is_one_info_line_without_a_traceback(client, staff, caplog):
    client.force_login(staff)

    with caplog.at_level(logging.INFO, logger="django.request"):
        response = client.get("/admin/billing/invoice/")

    records = [record for record in caplog.records if record.name == "django.request"]
    assert response.status_code == 403
    assert [(record.levelname, record.getMessage()) for record in records] == [
        ("INFO", "Forbidden (Permission denied): /admin/billing/invoice/")
    ]
    assert records[0].exc_info is None


@pytest.mark.django_db
def test_other_client_errors_stay_warnings_without_a_traceback(api_client, caplog):
    with caplog.at_level(logging.INFO, logger="django.request"):
        api_client.post("/api/auth/token/", {"username": "x"}, format="json")

    records = [record for record in caplog.records if record.name == "django.request"]
    assert [(record.levelname, record.getMessage(), record.exc_info) for record in records] == [
        ("WARNING", "Bad Request: /api/auth/token/", None)
    ]


def test_django_logs_through_the_one_redacting_handler_only():
    # Django's default config gives the `django` logger a console handler of its own, which
    # printed every request warning twice (and unredacted) with DEBUG on.
    assert logging.getLogger("django").handlers == []
    assert logging.getLogger("django.request").handlers == []
    assert [type(f).__name__ for handler in logging.getLogger().handlers for f in handler.filters] == ["RedactSecretsFilter"]
