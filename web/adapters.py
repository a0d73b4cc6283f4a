"""django-allauth's account adapter: its rate limits (failed logins, sign-ups, password
resets) count per client address as the API's throttles do (core.throttling.client_ip), and
its mails speak as the product.

Without django.contrib.sites, allauth names the site by the request's host, so every mail
said "Hello from 127.0.0.1:8000!". Its password-reset mail also reminded people of their
username, which sign-up makes up for them (they chose an email and a display name): it is
left out, and the mail says to sign in with the email address."""

from types import SimpleNamespace

from allauth.account.adapter import DefaultAccountAdapter
from django.conf import settings

from core.throttling import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        return client_ip(request)

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = context.get("request")
        domain = request.get_host() if request is not None else settings.SITE_NAME
        context = {**context, "current_site": SimpleNamespace(name=settings.SITE_NAME, domain=domain)}
        context.pop("username", None)
        super().send_mail(template_prefix, email, context)
