"""Every migration applies from zero and reverses back to zero (and forward again)."""

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

OUR_APPS = ["billing", "marketplace", "core", "copytrade", "exchanges"]  # dependents first


def _applied(app: str) -> set[str]:
    executor = MigrationExecutor(connection)
    return {name for (label, name) in executor.loader.applied_migrations if label == app}


@pytest.mark.slow
@pytest.mark.django_db(transaction=True)
def test_all_migrations_reverse_to_zero_and_apply_again():
    leaves = {app: sorted(_applied(app)) for app in OUR_APPS}
    assert all(leaves.values()), leaves

    for app in OUR_APPS:
        call_command("migrate", app, "zero", verbosity=0)
    assert not any(_applied(app) for app in OUR_APPS)
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
    assert not [table for table in tables if table.split("_")[0] in OUR_APPS]

    call_command("migrate", verbosity=0)
    assert {app: sorted(_applied(app)) for app in OUR_APPS} == leaves
