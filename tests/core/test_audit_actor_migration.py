"""The migration that names the actor of every audit event written before actors were kept,
and its way back."""

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

BEFORE = [("core", "0001_initial")]
AFTER = [("core", "0002_audit_event_actor_kind_and_name")]


def migrate(targets):
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets)
    return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_old_events_get_a_named_actor_of_one_kind_and_undo_keeps_the_user_link():
    old = migrate(BEFORE)
    User = old.get_model("accounts", "User")
    alice = User.objects.create(email="alice@keyship.example", name="Alice Smith", is_staff=True)
    bob = User.objects.create(email="bob@northwind.example", name="")
    Event = old.get_model("core", "AuditEvent")

    def write(action, actor=None, target_id="1", data=None):
        return Event.objects.create(
            action=action, actor=actor, target_type="x", target_id=target_id, data=data or {}
        ).pk

    ids = [
        write("line.hold", actor=alice),
        write("entitlement.activated", actor=bob),
        write("line.fulfilled"),
        write("api_client.created"),
        write("api.call", target_id="7"),
        write("api.call", target_id="", data={"actor": "unknown", "client_address": "203.0.113.9"}),
        write("order.created"),
    ]
    try:
        new = migrate(AFTER)
        rows = new.get_model("core", "AuditEvent").objects.in_bulk(ids)
        named = [(rows[pk].actor_kind, rows[pk].actor_name, rows[pk].actor_client_id) for pk in ids]
        assert named == [
            ("staff", "Alice Smith", None),
            ("user", "bob@northwind.example", None),
            ("job", "fulfil_due_task", None),
            ("job", "create_api_client", None),
            ("api_client", "API client #7", 7),
            ("unknown_caller", "unknown caller from 203.0.113.9", None),
            ("job", "unrecorded (written before actors were kept)", None),
        ]
        assert rows[ids[0]].actor_id == alice.pk

        back = migrate(BEFORE)
        kept = back.get_model("core", "AuditEvent").objects.in_bulk(ids)
        assert [kept[pk].actor_id for pk in ids] == [alice.pk, bob.pk] + [None] * 5
    finally:
        migrate(MigrationExecutor(connection).loader.graph.leaf_nodes())
