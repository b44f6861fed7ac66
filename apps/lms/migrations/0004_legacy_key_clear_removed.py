"""Drop the clear legacy keys (sealed by 0003), make the digest unique, and keep admin
uploads on the server (its own transaction: PostgreSQL alters a table after the batch
updates of 0003 have committed)."""

import uuid

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("lms", "0003_legacy_key_sealed"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveField(model_name="legacykey", name="license_key"),
        migrations.AlterField(
            model_name="legacykey",
            name="license_key_digest",
            field=models.CharField(editable=False, max_length=64, unique=True),
        ),
        migrations.CreateModel(
            name="LegacyKeyUpload",
            fields=[
                (
                    "id",
                    models.UUIDField(
                        default=uuid.uuid4, editable=False, primary_key=True, serialize=False
                    ),
                ),
                ("name", models.CharField(max_length=255, verbose_name="file name")),
                ("text_sealed", models.TextField(editable=False)),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="uploaded at")),
                ("expires_at", models.DateTimeField(verbose_name="expires at")),
                (
                    "uploaded_by",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="uploaded by",
                    ),
                ),
            ],
            options={
                "verbose_name": "legacy key upload",
                "verbose_name_plural": "legacy key uploads",
                "indexes": [
                    models.Index(fields=["expires_at"], name="legacy_key_upload_expiry_idx")
                ],
            },
        ),
    ]
