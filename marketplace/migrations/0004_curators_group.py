"""The `curators` group: staff users in it run provider curation in Django admin."""

from django.db import migrations

CURATORS = "curators"
PERMISSIONS = [
    ("marketplace", "signalprovider", ["view", "change", "curate"]),
    ("marketplace", "providerevent", ["view"]),
    ("marketplace", "rating", ["view", "delete"]),
    ("marketplace", "providermetrics", ["view"]),
    ("marketplace", "strategymetrics", ["view"]),
    ("marketplace", "tradeverification", ["view", "change"]),
    ("marketplace", "notification", ["view"]),
    ("copytrade", "strategy", ["view"]),
    ("copytrade", "leadertrade", ["view"]),
]


def _codename(action: str, model: str) -> str:
    return f"{action}_{model}"


def create_curators(apps, schema_editor):
    # Permissions are normally created after all migrations ran (post_migrate); create
    # them now so the group can hold them on a fresh database.
    from django.contrib.auth.management import create_permissions

    for app_config in apps.get_app_configs():
        models_module = getattr(app_config, "models_module", None)
        app_config.models_module = models_module or True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    group, _ = Group.objects.get_or_create(name=CURATORS)
    for app_label, model, actions in PERMISSIONS:
        for action in actions:
            permission = Permission.objects.get(
                content_type__app_label=app_label, content_type__model=model, codename=_codename(action, model)
            )
            group.permissions.add(permission)


def remove_curators(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=CURATORS).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("marketplace", "0003_metrics_and_verification"),
        ("copytrade", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(create_curators, remove_curators)]
