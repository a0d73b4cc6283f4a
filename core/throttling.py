"""Who a request comes from, and the API's throttles, counted atomically in Redis.

The client's address: `REMOTE_ADDR`, unless the operator said how many proxies (load
balancers) stand in front of the app (`NUM_PROXIES`). Each trusted proxy appends the
address it received the request from to `X-Forwarded-For`; the client's is therefore the
`NUM_PROXIES`-th entry from the right. Everything left of it was written by the client and
is never believed: a header that says something new on every request must not buy a new
password budget. DRF's throttles, the admin login and django-allauth's rate limits
(`web.adapters`) all ask `client_ip`.

Throttles take from the token buckets of `core.ratelimit` (one Lua script per request): a
burst of parallel requests cannot all read "one left" before any of them takes it, as
DRF's read-then-write cache throttles let them.
"""

from django.conf import settings
from rest_framework.throttling import BaseThrottle

from core.ratelimit import rate_limit_take


def client_ip(request) -> str:
    """The address of the client that sent `request` (a Django or DRF request)."""
    remote_addr = request.META.get("REMOTE_ADDR") or ""
    proxies = settings.NUM_PROXIES
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR")
    if proxies <= 0 or not forwarded:
        return remote_addr
    addresses = [address.strip() for address in forwarded.split(",")]
    # Fewer entries than trusted proxies: the request did not pass all of them; the
    # leftmost is the best we know, and it is still not the client's own choice alone.
    return addresses[-min(proxies, len(addresses))] or remote_addr


def rates() -> dict[str, str]:
    return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"]


class BucketThrottle(BaseThrottle):
    """A DRF throttle on an atomic token bucket: `scope` names the rate, `bucket_key` who pays."""

    scope: str = ""

    def __init__(self):
        self._wait = 0.0

    def bucket_key(self, request, view) -> str | None:
        raise NotImplementedError

    def scope_for(self, view) -> str:
        return self.scope

    def allow_request(self, request, view) -> bool:
        key = self.bucket_key(request, view)
        if key is None:
            return True
        scope = self.scope_for(view)
        self._wait = rate_limit_take(key=f"{scope}:{key}", rate=rates()[scope])
        return self._wait <= 0

    def get_ident(self, request) -> str:
        return client_ip(request)

    def wait(self) -> float | None:
        return self._wait or None


class AnonThrottle(BucketThrottle):
    """Anonymous requests, per client address (DRF's "anon")."""

    scope = "anon"

    def bucket_key(self, request, view):
        return None if request.user and request.user.is_authenticated else self.get_ident(request)


class UserThrottle(BucketThrottle):
    """Signed-in requests per user, anonymous ones per client address (DRF's "user")."""

    scope = "user"

    def bucket_key(self, request, view):
        if request.user and request.user.is_authenticated:
            return f"user-{request.user.pk}"
        return self.get_ident(request)


class ScopedThrottle(BucketThrottle):
    """The view's `throttle_scope`, per client address (per user when signed in)."""

    def scope_for(self, view) -> str:
        return view.throttle_scope

    def bucket_key(self, request, view):
        if not getattr(view, "throttle_scope", None):
            return None
        if request.user and request.user.is_authenticated:
            return f"user-{request.user.pk}"
        return self.get_ident(request)


def account_password_attempt_take(*, user_id: int) -> float:
    """One password attempt on the account, at any door (the API, the admin login, the web
    sign-in), from any client ("auth_account"): 0.0 when allowed, else the seconds to wait.
    A guesser with many addresses still gets this many tries per account."""
    return rate_limit_take(key=f"auth_account:user-{user_id}", rate=rates()["auth_account"])


def client_throttle_take(*, request, scope: str) -> float:
    """One request of `scope` for this request's client (outside a DRF view: the admin
    login, the refused webhook): 0.0 when allowed, else the seconds to wait."""
    return rate_limit_take(key=f"{scope}:{client_ip(request)}", rate=rates()[scope])
