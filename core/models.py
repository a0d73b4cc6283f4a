"""What every app shares: the notifications a user is sent (in-app and by email)."""

from django.conf import settings
from django.db import models


class Notification(models.Model):
    """Something a user must know (copy paused, stop-loss hit, provider decision...).

    Shown by `GET /api/notifications/` and also sent by email.
    """

    class Kind(models.TextChoices):
        COPY_PAUSED = "copy_paused"
        COPY_STOP_LOSS = "copy_stop_loss"
        COPIED_TRADE_FAILED = "copied_trade_failed"
        ACCOUNT_INVALID = "account_invalid"
        PROVIDER_APPLICATION = "provider_application"
        PROVIDER_DECISION = "provider_decision"
        PROVIDER_SUSPENDED = "provider_suspended"
        CIRCUIT_BREAKER = "circuit_breaker"
        VERIFICATION_FLAG = "verification_flag"
        INVOICE = "invoice"
        PAYOUT = "payout"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_by_user")]

    def __str__(self) -> str:
        return f"{self.title} · to {self.user} · {self.kind}"
