"""django-allauth's account adapter: its rate limits (failed logins, sign-ups, password
resets) count per client address as the API's throttles do (core.throttling.client_ip)."""

from allauth.account.adapter import DefaultAccountAdapter

from core.throttling import client_ip


class AccountAdapter(DefaultAccountAdapter):
    def get_client_ip(self, request) -> str:
        return client_ip(request)
