"""Staff roles as groups holding exactly the permissions a job needs.

Each role is defined by the migration that creates it (marketplace: curators, billing:
billing); `role_sync` is what those migrations run, and what puts a role back where a
database was flushed (tests, the demo)."""

from django.apps import apps as django_apps

# (app label, model, actions): "view", "add", "change", "delete" or a custom codename's verb.
Permissions = list[tuple[str, str, list[str]]]
# Models renamed since a role's migration named them, (app label, old name): new name. A role
# names the model as its migration's day knew it; the registry in hand says which applies.
RENAMED_MODELS = {("copytrade", "copyrelationship"): "copy"}


def _model_name(apps, app_label: str, model: str) -> str:
    renamed = RENAMED_MODELS.get((app_label, model))
    if renamed is None:
        return model
    try:
        apps.get_model(app_label, model)
    except LookupError:
        return renamed
    return model


def role_sync(*, name: str, permissions: Permissions, apps=django_apps):
    """The group `name` with exactly `permissions`, nothing more (`apps`: a migration's
    historical registry, or the live one)."""
    if apps is not django_apps:
        # In a migration: permissions are normally created after all migrations ran
        # (post_migrate); create them now so a role can hold them on a fresh database.
        from django.contrib.auth.management import create_permissions

        for app_config in apps.get_app_configs():
            models_module = getattr(app_config, "models_module", None)
            app_config.models_module = models_module or True
            create_permissions(app_config, apps=apps, verbosity=0)
            app_config.models_module = models_module

    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    wanted = []
    for app_label, named, actions in permissions:
        model = _model_name(apps, app_label, named)
        for action in actions:
            wanted.append(
                Permission.objects.get(content_type__app_label=app_label, content_type__model=model, codename=f"{action}_{model}")
            )
    group, _ = Group.objects.get_or_create(name=name)
    group.permissions.set(wanted)
    return group
