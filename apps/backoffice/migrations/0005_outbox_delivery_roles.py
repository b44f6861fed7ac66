from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """Customer Care and Operations watch the outbox, resend, retry, and send a bounced
    email to another address (their grants on the email deliveries moved with the rows)."""

    dependencies = [
        ("backoffice", "0004_paper_delivery_role"),
        ("outbox", "0001_outbox"),
        ("notifications", "0005_deliveries_move_to_outbox"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
