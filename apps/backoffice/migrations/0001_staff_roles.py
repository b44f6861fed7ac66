from django.db import migrations


def sync(apps, schema_editor):
    from apps.backoffice.roles import role_groups_sync

    role_groups_sync(apps)


class Migration(migrations.Migration):
    """The Customer Care and Operations groups, with the permissions of apps/backoffice/roles.py.

    When a role changes, add a migration that runs `sync` again.
    """

    dependencies = [
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("accounts", "0001_initial"),
        ("catalog", "0001_initial"),
        ("core", "0001_initial"),
        ("entitlements", "0001_initial"),
        ("lms", "0001_initial"),
        ("orders", "0001_initial"),
    ]

    operations = [migrations.RunPython(sync, migrations.RunPython.noop)]
