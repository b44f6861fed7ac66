import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models

# Events written before actors were kept name no user when a job, a command or the API
# wrote them. Where the action tells who, the fill names it; else this placeholder.
UNRECORDED = "unrecorded (written before actors were kept)"
JOBS_BY_ACTION = {
    "line.fulfilled": "fulfil_due_task",
    "line.blocked": "fulfil_due_task",
    "api_client.created": "create_api_client",
    "legacy_keys.imported": "import_legacy_keys",
}


def name_every_actor(apps, schema_editor):
    AuditEvent = apps.get_model("core", "AuditEvent")
    events = AuditEvent.objects.filter(actor_kind="").select_related("actor")
    batch = []
    for event in events.iterator(chunk_size=2000):
        if event.actor is not None:
            user = event.actor
            event.actor_kind = "staff" if user.is_staff else "user"
            event.actor_name = (user.name or user.email)[:200]
        elif event.action == "api.call" and (event.data or {}).get("actor") == "unknown":
            address = (event.data or {}).get("client_address") or "an unknown address"
            event.actor_kind, event.actor_name = "unknown_caller", f"unknown caller from {address}"
        elif event.action == "api.call" and event.target_id.isdigit():
            # A call with a valid token: its target is the client that made it.
            event.actor_kind = "api_client"
            event.actor_name = f"API client #{event.target_id}"
            event.actor_client_id = int(event.target_id)
        else:
            event.actor_kind = "job"
            event.actor_name = JOBS_BY_ACTION.get(event.action, UNRECORDED)
        batch.append(event)
        if len(batch) == 2000:
            AuditEvent.objects.bulk_update(
                batch, ["actor_kind", "actor_name", "actor_client_id"]
            )
            batch = []
    AuditEvent.objects.bulk_update(batch, ["actor_kind", "actor_name", "actor_client_id"])


class Migration(migrations.Migration):

    dependencies = [
        ("core", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name="auditevent",
            name="actor_kind",
            field=models.CharField(
                choices=[
                    ("staff", "staff"),
                    ("user", "portal user"),
                    ("api_client", "API client"),
                    ("job", "job"),
                    ("unknown_caller", "unknown caller"),
                ],
                default="",
                max_length=16,
                verbose_name="kind of actor",
            ),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_name",
            field=models.CharField(default="", max_length=200, verbose_name="who"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="auditevent",
            name="actor_client_id",
            field=models.PositiveBigIntegerField(
                blank=True,
                help_text="The API client that did it.",
                null=True,
                verbose_name="API client id",
            ),
        ),
        migrations.AlterField(
            model_name="auditevent",
            name="actor",
            field=models.ForeignKey(
                blank=True,
                help_text="The staff member or portal user who did it, if a user did.",
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to=settings.AUTH_USER_MODEL,
                verbose_name="user",
            ),
        ),
        # Undone by dropping the columns: the user link, all the old rows had, stays.
        migrations.RunPython(name_every_actor, migrations.RunPython.noop, elidable=False),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(fields=["actor_kind", "-id"], name="audit_event_actor_kind_idx"),
        ),
        migrations.AddIndex(
            model_name="auditevent",
            index=models.Index(
                django.db.models.functions.text.Lower("actor_name"),
                name="audit_event_actor_name_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="auditevent",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("actor_name", ""), _negated=True),
                    models.Q(
                        models.Q(
                            ("actor_client_id__isnull", True),
                            ("actor_kind__in", ["staff", "user"]),
                        ),
                        models.Q(
                            ("actor__isnull", True),
                            ("actor_client_id__isnull", False),
                            ("actor_kind", "api_client"),
                        ),
                        models.Q(
                            ("actor__isnull", True),
                            ("actor_client_id__isnull", True),
                            ("actor_kind__in", ["job", "unknown_caller"]),
                        ),
                        _connector="OR",
                    ),
                ),
                name="audit_event_names_one_actor",
            ),
        ),
    ]
