import ccxt
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models

from exchanges.crypto import EncryptedTextField

PAPER = "paper"


def validate_exchange_id(value: str) -> None:
    if value != PAPER and value not in ccxt.exchanges:
        raise ValidationError(f"Unknown exchange '{value}'. Use 'paper' or an id from ccxt.exchanges.")


class ExchangeAccount(models.Model):
    """A user's account on one exchange (or a paper account priced from live markets)."""

    class Status(models.TextChoices):
        ACTIVE = "active"
        INVALID = "invalid"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="exchange_accounts")
    exchange_id = models.CharField(max_length=32, validators=[validate_exchange_id])
    label = models.CharField(max_length=100)
    api_key = EncryptedTextField(blank=True, default="")
    api_secret = EncryptedTextField(blank=True, default="")
    api_passphrase = EncryptedTextField(blank=True, default="")
    sandbox = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.ACTIVE)
    status_reason = models.CharField(max_length=255, blank=True, default="")
    last_verified_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(status__in=["active", "invalid"]), name="exchange_account_status_valid"),
            models.UniqueConstraint(fields=["owner", "label"], name="exchange_account_unique_label_per_owner"),
        ]

    def __str__(self) -> str:
        return f"{self.label} ({self.exchange_id})"

    @property
    def is_paper(self) -> bool:
        return self.exchange_id == PAPER

    def __repr__(self) -> str:  # never let a secret slip into a traceback or log line
        return f"<ExchangeAccount id={self.pk} exchange={self.exchange_id} owner={self.owner_id}>"
