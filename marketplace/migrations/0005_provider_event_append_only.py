"""The provider event log is append-only in the database itself: no UPDATE, no DELETE."""

from django.db import migrations

CREATE = """
CREATE FUNCTION marketplace_providerevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'marketplace_providerevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;

CREATE TRIGGER marketplace_providerevent_append_only
    BEFORE UPDATE OR DELETE ON marketplace_providerevent
    FOR EACH ROW EXECUTE FUNCTION marketplace_providerevent_append_only();
"""

DROP = """
DROP TRIGGER IF EXISTS marketplace_providerevent_append_only ON marketplace_providerevent;
DROP FUNCTION IF EXISTS marketplace_providerevent_append_only();
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0004_curators_group")]

    operations = [migrations.RunSQL(CREATE, DROP)]
