"""A copy is called a copy (issue 25): `CopyRelationship` becomes `Copy` and every foreign key
to it in this app `copy` (its table `copytrade_copy`, the columns `copy_id`).

Runs after the migrations of other apps that name the old model (billing 0002-0003's covered
copies, marketplace 0009's terms, 0015's invited copies); their own fields follow in billing
0012 and marketplace 0016. Django renames the content type with the model (contenttypes'
rename operation); the permissions keep their id, group memberships and grants, and take the
new codenames here (`view_copy` for `view_copyrelationship`)."""

from django.db import migrations, models

OLD, NEW = "copyrelationship", "copy"


def _rename_permissions(apps, old: str, new: str, old_label: str, new_label: str):
    Permission = apps.get_model("auth", "Permission")
    ContentType = apps.get_model("contenttypes", "ContentType")
    # Django renamed the content type with the model; the old name where it did not run.
    types = ContentType.objects.filter(app_label="copytrade")
    content_type = types.filter(model=new).first() or types.filter(model=old).first()
    if content_type is None:
        return  # a fresh database: post_migrate creates the permissions with today's names
    for permission in Permission.objects.filter(content_type=content_type, codename__endswith=f"_{old}"):
        action = permission.codename[: -len(old) - 1]
        twin = Permission.objects.filter(content_type=content_type, codename=f"{action}_{new}").first()
        if twin is not None:
            # Created already under the new name (post_migrate of a run in between): keep one,
            # holding every grant the two had.
            for group in permission.group_set.all():
                group.permissions.add(twin)
            for user in permission.user_set.all():
                user.user_permissions.add(twin)
            permission.delete()
            continue
        permission.codename = f"{action}_{new}"
        permission.name = permission.name.replace(old_label, new_label)
        permission.save(update_fields=["codename", "name"])


def forwards(apps, schema_editor):
    _rename_permissions(apps, OLD, NEW, "copy relationship", "copy")


def backwards(apps, schema_editor):
    _rename_permissions(apps, NEW, OLD, "copy", "copy relationship")


class Migration(migrations.Migration):
    dependencies = [
        ("copytrade", "0019_pause_reason_key_can_withdraw"),
        ("billing", "0003_fee_state_from_assessments"),
        ("marketplace", "0015_invited_copies"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [
        migrations.RenameModel("CopyRelationship", "Copy"),
        migrations.AlterModelOptions(name="copy", options={"ordering": ["id"], "verbose_name_plural": "copies"}),
        migrations.RenameField("CopiedTrade", "relationship", "copy"),
        migrations.RenameField("FollowerPosition", "relationship", "copy"),
        migrations.RenameField("PositionDrift", "relationship", "copy"),
        migrations.RenameField("FundingPayment", "relationship", "copy"),
        # The constraints, indexes and orderings that name the field: PostgreSQL renamed the
        # column under them, so only Django's record of them changes.
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterModelOptions(
                    name="copiedtrade",
                    options={"ordering": ["copy_id", "sequence"]},
                ),
                migrations.AlterModelOptions(
                    name="fundingpayment",
                    options={"ordering": ["copy_id", "paid_at"]},
                ),
                migrations.RemoveConstraint(
                    model_name="copiedtrade",
                    name="copied_trade_once_per_pair",
                ),
                migrations.RemoveConstraint(
                    model_name="copiedtrade",
                    name="copied_trade_sequence_unique",
                ),
                migrations.RemoveConstraint(
                    model_name="followerposition",
                    name="follower_position_unique",
                ),
                migrations.RemoveConstraint(
                    model_name="fundingpayment",
                    name="funding_payment_once",
                ),
                migrations.RemoveConstraint(
                    model_name="positiondrift",
                    name="position_drift_one_open_per_symbol",
                ),
                migrations.RemoveIndex(
                    model_name="copiedtrade",
                    name="copied_trade_open_by_copy",
                ),
                migrations.RemoveIndex(
                    model_name="fundingpayment",
                    name="funding_by_copy_time",
                ),
                migrations.AddIndex(
                    model_name="copiedtrade",
                    index=models.Index(
                        condition=models.Q(("status__in", ["pending", "executing"])),
                        fields=["copy", "sequence"],
                        name="copied_trade_open_by_copy",
                    ),
                ),
                migrations.AddIndex(
                    model_name="fundingpayment",
                    index=models.Index(fields=["copy", "paid_at"], name="funding_by_copy_time"),
                ),
                migrations.AddConstraint(
                    model_name="copiedtrade",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("leader_trade__isnull", False)),
                        fields=("copy", "leader_trade"),
                        name="copied_trade_once_per_pair",
                    ),
                ),
                migrations.AddConstraint(
                    model_name="copiedtrade",
                    constraint=models.UniqueConstraint(fields=("copy", "sequence"), name="copied_trade_sequence_unique"),
                ),
                migrations.AddConstraint(
                    model_name="followerposition",
                    constraint=models.UniqueConstraint(fields=("copy", "symbol"), name="follower_position_unique"),
                ),
                migrations.AddConstraint(
                    model_name="fundingpayment",
                    constraint=models.UniqueConstraint(fields=("copy", "symbol", "exchange_payment_id"), name="funding_payment_once"),
                ),
                migrations.AddConstraint(
                    model_name="positiondrift",
                    constraint=models.UniqueConstraint(
                        condition=models.Q(("resolved_at__isnull", True)),
                        fields=("copy", "symbol"),
                        name="position_drift_one_open_per_symbol",
                    ),
                ),
            ]
        ),
        migrations.RunPython(forwards, backwards),
    ]
