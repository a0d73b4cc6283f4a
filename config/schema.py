"""OpenAPI schema generation (drf-spectacular)."""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from rest_framework import serializers


class ErrorSerializer(serializers.Serializer):
    """The one error shape of every endpoint (core.api_conventions.exception_handler)."""

    message = serializers.CharField()
    extra = serializers.DictField(help_text="Details, e.g. {'fields': {name: [messages]}} for invalid input.")


# Any operation can answer these (input and domain rules, authentication, permissions, an
# unknown id in the path or body, a state conflict, throttling); documenting them lets
# clients, and the schema-conformance fuzz test, tell a designed refusal from a bug.
ERROR_RESPONSES = {
    "400": "Invalid input, or a rule of the operation refused it.",
    "401": "Missing or invalid credentials.",
    "403": "Authenticated, but not allowed to do this.",
    "404": "Not found, or not visible to the caller.",
    "409": "Conflicts with the current state.",
    "429": "Throttled; retry later.",
}
# ... and those that take a body, these too.
BODY_ERROR_RESPONSES = {
    "413": "The body is larger than the operation accepts.",
    "415": "The body's media type is not accepted, or the body cannot be parsed as it.",
}
BODY_METHODS = ("POST", "PUT", "PATCH")

# Operations grouped as a reader looks for them, by path (the first match wins): without
# this every operation sat under one "api" tag.
TAGS_BY_PATH = (
    ("/webhook", "Signals: webhook"),
    ("/api/strategies/", "Leader: strategies and signals"),
    ("/api/copy-trading/top", "Leaderboard"),
    ("/api/copy-trading/leader/", "Leaderboard"),
    ("/api/marketplace/strategies/", "Leader: strategies and signals"),
    ("/api/marketplace/invitations/", "Leader: strategies and signals"),
    ("/api/marketplace/traders", "Marketplace: providers"),
    ("/api/marketplace/apply", "Marketplace: providers"),
    ("/api/marketplace/payouts/", "Billing: payouts"),
    ("/api/copy-trading/", "Follower: copies"),
    ("/api/exchange-accounts/", "Follower: exchange accounts"),
    ("/api/billing/stripe/", "Billing: Stripe webhook"),
    ("/api/billing/", "Billing: invoices and earnings"),
    ("/api/notifications/", "Notifications"),
    ("/api/auth/", "Authentication"),
    ("/api/audit/", "Staff: audit trail"),
)


class AutoSchema(SpectacularAutoSchema):
    """Names a component after its view when the serializer is nested in one.

    Every view declares its own small `InputSerializer` / `OutputSerializer` (the house
    style); by class name alone they would all collide into one "Input" component.
    Every operation also documents the error responses above, in the one error shape.
    """

    def get_serializer_name(self, serializer, direction):
        name = super().get_serializer_name(serializer, direction)
        qualname = type(serializer).__qualname__
        if "." in qualname:
            owner = qualname.split(".")[0]
            for suffix in ("Api", "View"):
                owner = owner.removesuffix(suffix)
            return f"{owner}{name}"
        return name

    def get_tags(self) -> list[str]:
        for prefix, tag in TAGS_BY_PATH:
            if self.path.startswith(prefix):
                return [tag]
        return super().get_tags()

    def _get_response_bodies(self, direction="response"):
        responses = super()._get_response_bodies(direction=direction)
        errors = {**ERROR_RESPONSES, **(BODY_ERROR_RESPONSES if self.method in BODY_METHODS else {})}
        for code, description in errors.items():
            if code not in responses:
                responses[code] = self._get_response_for_code(ErrorSerializer, code, direction=direction)
                responses[code]["description"] = description
        return responses
