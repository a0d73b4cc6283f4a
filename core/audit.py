"""The audit trail (core.models.AuditEntry): every staff action and every change to money,
with who did it, when, and the values before and after.

Services call `audit_record` where the change happens (payouts, Stripe Connect accounts,
provider decisions, fee terms, copy settings); receivers record role changes and every admin
change. The actor is the one named, else the signed-in user of the request being served
(`AuditActorMiddleware`), else the platform itself."""

import contextvars
import json

from django.core.serializers.json import DjangoJSONEncoder

from core.models import AuditEntry

_request = contextvars.ContextVar("audit_request", default=None)


class AuditActorMiddleware:
    """Remembers the request being served, for changes a service records without being told
    who made them (admin forms, receivers): its user is read when an entry is written, after
    the API's token authentication has set it too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)


def _request_user():
    request = _request.get()
    user = getattr(request, "user", None) if request is not None else None
    return user if user is not None and user.is_authenticated else None


def _plain(values: dict | None) -> dict:
    """JSON-safe: Decimals and dates as strings."""
    return json.loads(json.dumps(values or {}, cls=DjangoJSONEncoder))


def audit_record(*, action: str, target, before: dict | None = None, after: dict | None = None, actor=None) -> AuditEntry:
    """Append one entry. `target`: a model instance, or a (type, id) pair."""
    if isinstance(target, tuple):
        target_type, target_id = target
    else:
        target_type, target_id = target._meta.label_lower, target.pk
    actor = actor if actor is not None else _request_user()
    return AuditEntry.objects.create(
        actor_user_id=actor.pk if actor is not None else None,
        actor_name=actor.get_username() if actor is not None else "",
        action=action,
        target_type=target_type,
        target_id="" if target_id is None else str(target_id),
        before=_plain(before),
        after=_plain(after),
    )


def audit_changes(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the keys whose values differ, from each side."""
    changed = [key for key in after if before.get(key) != after.get(key)]
    return {key: before.get(key) for key in changed}, {key: after[key] for key in changed}
