"""What every app shares: notifications (in-app and by email), the public display name,
API tokens."""

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from core.names import name_key

DISPLAY_NAME_TAKEN = "This display name is taken; choose another."


class Notification(models.Model):
    """Something a user must know (copy paused, stop-loss hit, provider decision...).

    Shown by `GET /api/notifications/` and also sent by email.
    """

    class Kind(models.TextChoices):
        """What a notification is about; the label is how the preferences page names it."""

        COPY_STARTED = "copy_started", "A copy started"
        COPIED_TRADE_FILLED = "copied_trade_filled", "A leader's trade was copied (filled)"
        COPIED_TRADE_SKIPPED = "copied_trade_skipped", "A leader's trade was not copied (skipped)"
        COPIED_TRADE_FAILED = "copied_trade_failed", "A copied order failed at the exchange"
        COPY_LATE = "copy_late", "A copy's entries were skipped as too late, or its orders placed late"
        COPY_DRIFT = "copy_drift", "A copy's position differed from what its exchange account holds"
        COPY_PAUSED = "copy_paused", "You paused a copy"
        COPY_RESUMED = "copy_resumed", "You resumed a copy"
        COPY_STOPPED = "copy_stopped", "You stopped a copy"
        COPY_CLOSED = "copy_closed", "A copy was stopped and its positions closed at market"
        COPY_STOP_LOSS = "copy_stop_loss", "A copy's stop-loss paused it and closed its positions"
        POSITION_CLOSED = "position_closed", "A position's own take-profit or stop-loss closed it"
        PROVIDER_SUSPENDED = "provider_suspended", "A leader was suspended and your copy paused"
        ACCOUNT_INVALID = "account_invalid", "An exchange refused your API key and its copies paused"
        FEE_TERMS = "fee_terms", "A leader changed the fees of a copy"
        INVOICE_ISSUED = "invoice_issued", "An invoice was issued"
        INVOICE_PAID = "invoice_paid", "An invoice was paid"
        INVOICE = "invoice", "A payment failed"  # the value predates issued and paid
        PAYOUT = "payout", "A payout was made to you"
        PROVIDER_APPLICATION = "provider_application", "A provider applied (curators)"
        PROVIDER_DECISION = "provider_decision", "The curators decided on a provider"
        CIRCUIT_BREAKER = "circuit_breaker", "A strategy's circuit breaker stopped new entries"
        VERIFICATION_FLAG = "verification_flag", "A track record failed verification (curators)"

    # Mailed unless the user turns it off: what asks them to act (pay, reconnect, decide) or
    # what the platform did to their money on its own (forced closes, pauses it made).
    # Everything else is mailed only if they ask for it; every kind is shown in the app unless
    # they turn it off (NotificationPreference).
    EMAIL_BY_DEFAULT = frozenset(
        {
            Kind.COPY_CLOSED,
            Kind.COPY_STOP_LOSS,
            Kind.COPY_DRIFT,
            Kind.POSITION_CLOSED,
            Kind.PROVIDER_SUSPENDED,
            Kind.ACCOUNT_INVALID,
            Kind.FEE_TERMS,
            Kind.INVOICE,
            Kind.PROVIDER_APPLICATION,
            Kind.PROVIDER_DECISION,
            Kind.CIRCUIT_BREAKER,
            Kind.VERIFICATION_FLAG,
        }
    )

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notifications")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    title = models.CharField(max_length=200)
    body = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    read_at = models.DateTimeField(null=True, blank=True)
    # Outcomes that belong together (the copies of one leader trade for one follower) make
    # one notification whose body grows, not one each: `core.notifications.notification_send_grouped`.
    group_key = models.CharField(max_length=100, blank=True, default="")
    grouped_count = models.PositiveIntegerField(default=1)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["user", "read_at"], name="notification_unread_by_user")]
        constraints = [
            models.UniqueConstraint(fields=["user", "group_key"], condition=~models.Q(group_key=""), name="notification_group_unique")
        ]

    def __str__(self) -> str:
        return f"{self.title} · to {self.user} · {self.kind}"


class GroupedMail(models.Model):
    """A grouped notice whose mail is settled: sent, or (`core.notifications.notifications_send_once`)
    wanted neither by email nor in the app. Its insert (ON CONFLICT DO NOTHING on
    (user, group_key)) is what decides to mail, so a notice is mailed at most once whatever
    the reruns, and a user who turned the app off, who has no Notification row to meet on,
    is still told once (`notification_send_grouped` mails such a user a group's first outcome
    only). The row says only that; the mail's text is not kept."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    group_key = models.CharField(max_length=100)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "group_key"], name="grouped_mail_once")]

    def __str__(self) -> str:
        return f"{self.group_key} · to {self.user}"


class NotificationPreference(models.Model):
    """A user's choice for one kind of notification: shown in the app, sent by email. No row:
    shown in the app, mailed if the kind is in `Notification.EMAIL_BY_DEFAULT`."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="notification_preferences")
    kind = models.CharField(max_length=32, choices=Notification.Kind.choices)
    in_app = models.BooleanField(default=True)
    email = models.BooleanField(default=False)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "kind"], name="notification_preference_once_per_kind")]

    def __str__(self) -> str:
        return f"{self.user} · {self.kind}: in app {self.in_app}, email {self.email}"


class Profile(models.Model):
    """What other people see of a user: the display name chosen at sign-up.

    Usernames and email addresses are private; every page and endpoint that shows one user
    to another shows `core.selectors.display_name(user)` instead.
    """

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="profile")
    display_name = models.CharField(max_length=40)
    # `core.names.name_key(display_name)`, set by `clean()` and `core.profiles.profile_create`.
    display_name_key = models.CharField(max_length=200, editable=False, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # "Alice", "alice", "Ａｌｉｃｅ" or "АLICE" (Cyrillic А) would let one person pass for another.
            models.UniqueConstraint(fields=["display_name_key"], name="profile_display_name_unique_key"),
        ]

    def __str__(self) -> str:
        return self.display_name

    def clean(self) -> None:
        # Staff edit display names in admin, whose form runs this.
        self.display_name_key = name_key(self.display_name)
        if Profile.objects.filter(display_name_key=self.display_name_key).exclude(pk=self.pk).exists():
            raise ValidationError({"display_name": DISPLAY_NAME_TAKEN})


class ApiToken(models.Model):
    """A named API token. Only the SHA-256 of the key is stored: the key itself is shown
    once, when the token is created, and cannot be recovered.

    Tokens are revoked, not deleted, so the list keeps what existed and when it was last
    used. Every token expires (`API_TOKEN_LIFETIME_DAYS` after it was created). Checks of
    whether a token may be used live in `core.tokens.api_token_authenticate` alone.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    key_hash = models.CharField(max_length=64)
    # The key's first characters, to tell tokens apart in a list; far too short to use.
    prefix = models.CharField(max_length=12)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField()

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["key_hash"], name="api_token_key_hash_unique")]
        indexes = [models.Index(fields=["user", "-created_at"], name="api_token_by_user")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at <= timezone.now()

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None and not self.is_expired


class AuditEntryQuerySet(models.QuerySet):
    """No bulk UPDATE or DELETE through the ORM (the database refuses them too: migration 0010)."""

    def update(self, **kwargs):
        raise AppendOnlyError("The audit trail is append-only: entries are never changed.")

    def delete(self):
        raise AppendOnlyError("The audit trail is append-only: entries are never deleted.")


class AppendOnlyError(Exception):
    pass


class AuditEntry(models.Model):
    """One staff action or change to money: who, when, what, before and after (`core.audit`).

    Append-only: the model refuses to save an existing row or delete one, and a database
    trigger refuses UPDATE and DELETE from anywhere. The actor is kept by id and name, not
    as a foreign key, so erasing a user's data never needs to touch the trail."""

    class Action(models.TextChoices):
        PAYOUT_PAID = "payout_paid", "a payout was marked paid"
        CONNECT_ACCOUNT_SET = "connect_account_set", "a payee's Stripe Connect account was set"
        ROLE_CHANGED = "role_changed", "a user's roles or staff status changed"
        PROVIDER_DECIDED = "provider_decided", "a curator decided on a signal provider"
        FEE_TERMS_CHANGED = "fee_terms_changed", "a provider's fee terms changed"
        COPY_SETTINGS_CHANGED = "copy_settings_changed", "a copy's settings changed"
        ADMIN_CHANGE = "admin_change", "a staff member changed something in the admin"

    at = models.DateTimeField(auto_now_add=True)
    # Null: the platform itself (a scheduled task, a webhook).
    actor_user_id = models.BigIntegerField(null=True, blank=True)
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=40, choices=Action.choices)
    target_type = models.CharField(max_length=100)
    target_id = models.CharField(max_length=64, blank=True, default="")
    before = models.JSONField(default=dict, blank=True)
    after = models.JSONField(default=dict, blank=True)

    objects = AuditEntryQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-id"]
        verbose_name_plural = "audit entries"
        indexes = [models.Index(fields=["target_type", "target_id", "-at"], name="audit_entry_by_target")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} · {self.actor_name or 'the platform'} · {self.get_action_display()}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise AppendOnlyError("The audit trail is append-only: entries are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("The audit trail is append-only: entries are never deleted.")
