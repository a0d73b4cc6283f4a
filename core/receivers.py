"""core's answers to django-allauth's signals, and the audit trail's receivers (roles, admin changes)."""

from allauth.account.signals import password_changed, password_reset, password_set
from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db.models.signals import m2m_changed, post_save, pre_save
from django.dispatch import receiver

from core.audit import audit_changes, audit_record
from core.models import AuditEntry
from core.tokens import api_token_revoke_all


@receiver(password_changed)
@receiver(password_set)
@receiver(password_reset)
def revoke_api_tokens_on_a_new_password(sender, *, request, user, **kwargs) -> None:
    """A new password ends every API token of the account: a token made by someone who knew
    the old one (or who signed up with this address before its owner) must not outlive it."""
    api_token_revoke_all(user=user)


# --- the audit trail: roles and every admin change ------------------------------------------


@receiver(m2m_changed, sender=get_user_model().groups.through)
def audit_roles_changed(sender, *, instance, action, reverse, pk_set, **kwargs) -> None:
    """A user given or taken a role (a group), from the admin or anywhere else."""
    if reverse or action not in ("post_add", "post_remove", "pre_clear"):
        return
    now = sorted(instance.groups.values_list("name", flat=True))
    if action == "pre_clear":
        before, after = now, []
    else:
        changed = set(Group.objects.filter(pk__in=pk_set or ()).values_list("name", flat=True))
        before = sorted(set(now) - changed) if action == "post_add" else sorted(set(now) | changed)
        after = now
    if before != after:
        audit_record(action=AuditEntry.Action.ROLE_CHANGED, target=instance, before={"groups": before}, after={"groups": after})


STAFF_FLAGS = ("is_staff", "is_superuser", "is_active")


@receiver(pre_save, sender=get_user_model())
def audit_staff_flags_changed(sender, *, instance, update_fields=None, **kwargs) -> None:
    """Staff or superuser status given or taken, an account switched off or on."""
    if instance.pk is None or (update_fields is not None and not set(update_fields) & set(STAFF_FLAGS)):
        return
    stored = sender.objects.filter(pk=instance.pk).values(*STAFF_FLAGS).first()
    if stored is None:
        return
    before, after = audit_changes(stored, {flag: getattr(instance, flag) for flag in STAFF_FLAGS})
    if after:
        audit_record(action=AuditEntry.Action.ROLE_CHANGED, target=instance, before=before, after=after)


@receiver(post_save, sender=LogEntry)
def audit_admin_change(sender, *, instance, created, **kwargs) -> None:
    """Every addition, change and deletion made in the admin, as the admin logged it."""
    if not created:
        return
    kind = {ADDITION: "added", CHANGE: "changed", DELETION: "deleted"}.get(instance.action_flag, str(instance.action_flag))
    model = instance.content_type.model_class() if instance.content_type_id else None
    audit_record(
        action=AuditEntry.Action.ADMIN_CHANGE,
        target=(model._meta.label_lower if model else "unknown", instance.object_id),
        after={"what": kind, "object": instance.object_repr, "change": instance.get_change_message()},
        actor=instance.user,
    )
