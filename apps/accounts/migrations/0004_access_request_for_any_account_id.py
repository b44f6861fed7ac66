"""An access request keeps the Account ID as typed, and may name no account: the portal
answers a request for an unknown Account ID as it answers any other."""

import django.db.models.deletion
from django.db import migrations, models
from django.db.models import OuterRef, Subquery


def _copy_account_ids(apps, schema_editor):
    AccessRequest = apps.get_model("accounts", "AccessRequest")
    Account = apps.get_model("accounts", "Account")
    AccessRequest.objects.update(
        requested_account_id=Subquery(
            Account.objects.filter(pk=OuterRef("account_id")).values("account_id")[:1]
        )
    )


class Migration(migrations.Migration):
    dependencies = [
        ("accounts", "0003_access_request_notified"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="accessrequest",
            name="access_request_one_pending",
        ),
        migrations.AddField(
            model_name="accessrequest",
            name="requested_account_id",
            field=models.CharField(
                default="", max_length=20, verbose_name="Account ID asked for"
            ),
            preserve_default=False,
        ),
        migrations.RunPython(_copy_account_ids, migrations.RunPython.noop, elidable=True),
        migrations.AlterField(
            model_name="accessrequest",
            name="account",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="access_requests",
                to="accounts.account",
                verbose_name="account",
            ),
        ),
        migrations.AddConstraint(
            model_name="accessrequest",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "pending")),
                fields=("contact", "requested_account_id"),
                name="access_request_one_pending",
            ),
        ),
    ]
