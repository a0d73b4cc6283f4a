"""The event log stays append-only, with one deliberate exception: a transaction that sets
`copytrade.purge_provider_events = 'on'` (SET LOCAL) may DELETE rows, for erasing a user's
data (and for `make demo` resetting its own demo users). UPDATE is never allowed."""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION marketplace_providerevent_append_only() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'DELETE' AND current_setting('copytrade.purge_provider_events', true) = 'on' THEN
        RETURN OLD;
    END IF;
    RAISE EXCEPTION 'marketplace_providerevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""

PREVIOUS = """
CREATE OR REPLACE FUNCTION marketplace_providerevent_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'marketplace_providerevent is append-only (% refused)', TG_OP;
END;
$$ LANGUAGE plpgsql;
"""


class Migration(migrations.Migration):
    dependencies = [("marketplace", "0005_provider_event_append_only")]

    operations = [migrations.RunSQL(CREATE, PREVIOUS)]
