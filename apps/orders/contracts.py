"""The sales-order file, shared by `import_orders` and the API.

A file holds {"orders": [...]} or one order on its own.
"""

from django.conf import settings
from rest_framework import serializers

from apps.accounts.models import account_id_validator
from apps.core import contracts
from apps.core.codes import CodeKind, parse_code
from apps.orders.models import AccountRole, order_number_validator


def _refuse_repeats(values: list, field: str, rows: str) -> None:
    """A ValidationError at each row whose `field` repeats an earlier row's."""
    errors = {
        index: {field: [f"{value} is already in {rows}[{values.index(value)}]"]}
        for index, value in enumerate(values)
        if value in values[:index]
    }
    if errors:
        raise serializers.ValidationError(errors)


class OrderAccountIn(serializers.Serializer):
    account_id = contracts.TextField(max_length=20, validators=[account_id_validator])
    name = contracts.TextField(max_length=200)
    role = serializers.ChoiceField(choices=AccountRole.choices)


class OrderLineIn(serializers.Serializer):
    line_number = serializers.IntegerField(min_value=1, max_value=1_000_000)
    sku = contracts.TextField(max_length=64)
    quantity = serializers.IntegerField(min_value=1, max_value=100_000)
    requested_ship_date = serializers.DateField(input_formats=["iso-8601"])
    renews_ssrn = contracts.TextField(
        max_length=20, allow_blank=True, allow_null=True, default=""
    )

    def validate_renews_ssrn(self, value):
        # Stored as the SSRN is written on the entitlement, so that the sweep finds it
        # however the ERP typed it (case, spaces, look-alikes).
        value = (value or "").strip()
        parsed = parse_code(value)
        return parsed.value if parsed.kind == CodeKind.SSRN else value


class OrderIn(serializers.Serializer):
    order_number = contracts.TextField(max_length=32, validators=[order_number_validator])
    language = serializers.ChoiceField(choices=settings.LANGUAGES, default="en")
    accounts = OrderAccountIn(many=True, allow_empty=False)
    emails = serializers.ListField(child=contracts.EmailField(), allow_empty=False)
    lines = OrderLineIn(many=True, allow_empty=False, max_length=1000)

    def validate_accounts(self, accounts):
        roles = [account["role"] for account in accounts]
        if AccountRole.END_CUSTOMER not in roles:
            raise serializers.ValidationError("an order needs an end_customer account")
        _refuse_repeats(roles, "role", "accounts")
        return accounts

    def validate_emails(self, emails):
        # Each address receives the email once, whatever its case in the order.
        unique = {}
        for email in emails:
            unique.setdefault(email.lower(), email)
        return list(unique.values())

    def validate_lines(self, lines):
        _refuse_repeats([line["line_number"] for line in lines], "line_number", "lines")
        return lines


class OrdersFile(serializers.Serializer):
    orders = OrderIn(many=True, allow_empty=False)
