"""Seal the legacy keys that sit in the database in clear.

Reversible: going back writes each key in clear again (what the older code reads). The
clear column is made nullable first, so that going back can add it before filling it.
"""

from django.db import migrations, models

from apps.core import sealing

BATCH = 1000  # rows sealed per UPDATE, so a pool of a million keys never sits in memory


def seal_keys(apps, schema_editor):
    LegacyKey = apps.get_model("lms", "LegacyKey")
    keys = LegacyKey.objects.filter(license_key__isnull=False).order_by("pk")
    batch = []
    for key in keys.iterator(chunk_size=BATCH):
        key.license_key_digest = sealing.legacy_key_digest(key.license_key)
        key.license_key_sealed = sealing.seal(key.license_key)
        batch.append(key)
        if len(batch) == BATCH:
            LegacyKey.objects.bulk_update(batch, ["license_key_digest", "license_key_sealed"])
            batch = []
    LegacyKey.objects.bulk_update(batch, ["license_key_digest", "license_key_sealed"])


def unseal_keys(apps, schema_editor):
    LegacyKey = apps.get_model("lms", "LegacyKey")
    batch = []
    for key in LegacyKey.objects.order_by("pk").iterator(chunk_size=BATCH):
        key.license_key = sealing.unseal(key.license_key_sealed)
        batch.append(key)
        if len(batch) == BATCH:
            LegacyKey.objects.bulk_update(batch, ["license_key"])
            batch = []
    LegacyKey.objects.bulk_update(batch, ["license_key"])


class Migration(migrations.Migration):

    dependencies = [
        ("lms", "0002_legacy_key_serial"),
    ]

    operations = [
        migrations.AddField(
            model_name="legacykey",
            name="license_key_digest",
            field=models.CharField(editable=False, max_length=64, null=True),
        ),
        migrations.AddField(
            model_name="legacykey",
            name="license_key_sealed",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.AlterField(
            model_name="legacykey",
            name="license_key",
            field=models.TextField(null=True, unique=True, verbose_name="license key"),
        ),
        migrations.RunPython(seal_keys, unseal_keys, elidable=False),
    ]
