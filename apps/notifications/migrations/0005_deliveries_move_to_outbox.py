"""Fulfillment Emails and reminder digests move onto the outbox's one delivery table.

Each row keeps its id, so reminders, resends and audit events still name the same delivery.
"""

from django.core.management.color import no_style
from django.db import migrations, models
import django.db.models.deletion

FIELDS = (
    "id",
    "kind",
    "language",
    "status",
    "message_id",
    "sent_at",
    "resend_of_id",
    "reason",
    "requested_by_id",
    "attempts",
    "next_attempt_at",
    "lease_expires_at",
    "last_error",
)


def _checks_now(schema_editor):
    """Foreign keys checked at each statement, not at commit: PostgreSQL refuses to alter a
    table in the transaction that still owes checks on rows written to it."""
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")


def forwards(apps, schema_editor):
    _checks_now(schema_editor)
    EmailDelivery = apps.get_model("notifications", "EmailDelivery")
    Delivery = apps.get_model("outbox", "Delivery")
    Reminder = apps.get_model("notifications", "Reminder")
    for old in EmailDelivery.objects.select_related("shipment__order").order_by("pk").iterator():
        if old.shipment_id:
            topic, about = f"shipment:{old.shipment_id}", old.shipment.order.order_number
        else:
            topic, about = f"digest:{old.digest_day.isoformat()}", old.digest_day.isoformat()
        Delivery.objects.create(
            channel="email",
            topic=topic,
            about=about,
            recipient=old.email,
            **{name: getattr(old, name) for name in FIELDS},
        )
        Delivery.objects.filter(pk=old.pk).update(created_at=old.created_at)
    Reminder.objects.update(outbox_delivery_id=models.F("delivery_id"))
    _sequence_reset(schema_editor, Delivery)


def backwards(apps, schema_editor):
    _checks_now(schema_editor)
    EmailDelivery = apps.get_model("notifications", "EmailDelivery")
    Delivery = apps.get_model("outbox", "Delivery")
    Reminder = apps.get_model("notifications", "Reminder")
    moved = Delivery.objects.filter(kind__in=["fulfillment", "reminder_digest"])
    for new in moved.order_by("pk").iterator():
        what, _, key = new.topic.partition(":")
        EmailDelivery.objects.create(
            shipment_id=int(key) if what == "shipment" else None,
            digest_day=key if what == "digest" else None,
            email=new.recipient,
            **{name: getattr(new, name) for name in FIELDS},
        )
        EmailDelivery.objects.filter(pk=new.pk).update(created_at=new.created_at)
    Reminder.objects.update(delivery_id=models.F("outbox_delivery_id"))
    Reminder.objects.update(outbox_delivery_id=None)
    for resends in ("IS NOT NULL", "IS NULL"):  # resends point at their originals
        schema_editor.execute(
            "DELETE FROM outbox_delivery WHERE kind IN ('fulfillment', 'reminder_digest') "
            f"AND resend_of_id {resends}"
        )
    _sequence_reset(schema_editor, EmailDelivery)


def _sequence_reset(schema_editor, model):
    """Rows were written with their ids: the table's id sequence goes on after the last."""
    connection = schema_editor.connection
    for sql in connection.ops.sequence_reset_sql(no_style(), [model]):
        schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("notifications", "0004_reminder_digest_once_per_day"),
        ("outbox", "0001_outbox"),
    ]

    operations = [
        migrations.AddField(
            model_name="reminder",
            name="outbox_delivery",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="+",
                to="outbox.delivery",
            ),
        ),
        # Null for the way back, which fills it after the old table is made again.
        migrations.AlterField(
            model_name="reminder",
            name="delivery",
            field=models.ForeignKey(
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="reminders",
                to="notifications.emaildelivery",
                verbose_name="digest",
            ),
        ),
        migrations.RunPython(forwards, backwards),
        migrations.RemoveField(model_name="reminder", name="delivery"),
        migrations.RenameField(
            model_name="reminder", old_name="outbox_delivery", new_name="delivery"
        ),
        migrations.AlterField(
            model_name="reminder",
            name="delivery",
            field=models.ForeignKey(
                on_delete=django.db.models.deletion.CASCADE,
                related_name="reminders",
                to="outbox.delivery",
                verbose_name="digest",
            ),
        ),
        migrations.DeleteModel(name="EmailDelivery"),
    ]
