"""The accounts-and-contacts file, shared by `import_accounts` and the API."""

from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import Account, account_id_validator
from apps.core import contracts


class AccountIn(serializers.Serializer):
    account_id = contracts.TextField(max_length=20, validators=[account_id_validator])
    name = contracts.TextField(max_length=200)
    kind = serializers.ChoiceField(choices=Account.Kind.choices, default=Account.Kind.CUSTOMER)


class ContactIn(serializers.Serializer):
    contact_id = contracts.TextField(max_length=32)
    email = contracts.EmailField()
    name = contracts.TextField(max_length=200, allow_blank=True, default="")
    language = serializers.ChoiceField(choices=settings.LANGUAGES, default="en")
    account_ids = serializers.ListField(
        child=contracts.TextField(max_length=20, validators=[account_id_validator]),
        default=list,
    )


class AccountsFile(serializers.Serializer):
    accounts = AccountIn(many=True, default=list)
    contacts = ContactIn(many=True, default=list)
