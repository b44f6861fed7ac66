"""What the API answers. What it accepts are the import files' shapes (each app's
`contracts.py`), so a file that imports also posts."""

from rest_framework import serializers

from apps.accounts.models import account_id_validator
from apps.core import contracts
from apps.entitlements.models import ChangeKind, EntitlementStatus
from apps.orders.models import LineStatus
from apps.outbox.events import EVENT_TYPES


class ErrorOut(serializers.Serializer):
    errors = serializers.ListField(
        child=serializers.CharField(),
        help_text='Each problem with the path of its field: lines[2].sku: unknown SKU "X".',
    )


class OrderAccountOut(serializers.Serializer):
    account_id = serializers.CharField(source="account.account_id")
    name = serializers.CharField(source="account.name")
    role = serializers.CharField()


class OrderLineOut(serializers.Serializer):
    line_number = serializers.IntegerField()
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField()
    requested_ship_date = serializers.DateField()
    renews_ssrn = serializers.CharField()
    status = serializers.ChoiceField(choices=LineStatus.choices)
    status_reason = serializers.CharField()
    fulfilled_at = serializers.DateTimeField(allow_null=True)
    ssrn = serializers.SerializerMethodField()

    def get_ssrn(self, line) -> str | None:
        entitlement = line.entitlement  # the one it made, not seats split off it later
        return entitlement.ssrn if entitlement else None


class OrderOut(serializers.Serializer):
    order_number = serializers.CharField()
    language = serializers.CharField()
    accounts = OrderAccountOut(source="order_accounts.all", many=True)
    emails = serializers.SerializerMethodField()
    lines = OrderLineOut(source="lines.all", many=True)
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()

    def get_emails(self, order) -> list[str]:
        return [row.email for row in order.emails.all()]


class LineChangeIn(serializers.Serializer):
    requested_ship_date = serializers.DateField(input_formats=["iso-8601"])


class LineActionIn(serializers.Serializer):
    reason = contracts.TextField(max_length=200, allow_blank=True, default="")


class EntitlementActionIn(serializers.Serializer):
    reason = contracts.TextField(
        max_length=200, help_text="Why: told to the contacts of the entitlement's accounts."
    )


class EntitlementTransferIn(EntitlementActionIn):
    account_ids = serializers.ListField(
        child=contracts.TextField(max_length=20, validators=[account_id_validator]),
        min_length=1,
        max_length=20,
        help_text="The accounts that will own it; the first is the end customer.",
    )


class EntitlementSplitIn(EntitlementTransferIn):
    quantity = serializers.IntegerField(
        min_value=1,
        max_value=2_000_000_000,
        help_text="Seats to move: fewer than the entitlement has, and no more than are free.",
    )


class EntitlementRehostIn(EntitlementActionIn):
    serial_number = contracts.TextField(
        max_length=64, help_text="The failed device's serial number, as it was activated."
    )
    new_serial_number = contracts.TextField(
        max_length=64, help_text="The replacement device's serial number."
    )


class EntitlementAccountOut(serializers.Serializer):
    account_id = serializers.CharField(source="account.account_id")
    role = serializers.CharField()


class EntitlementOut(serializers.Serializer):
    ssrn = serializers.CharField()
    sku = serializers.CharField(source="product.sku")
    product_name = serializers.CharField(source="product.name")
    quantity = serializers.IntegerField()
    seats_used = serializers.IntegerField()
    status = serializers.ChoiceField(choices=EntitlementStatus.choices)
    starts_on = serializers.DateField()
    term_ends_on = serializers.DateField(allow_null=True)
    grace_ends_on = serializers.DateField(allow_null=True)
    suspended_at = serializers.DateTimeField(allow_null=True)
    revoked_at = serializers.DateTimeField(allow_null=True)
    order_number = serializers.CharField(source="order_line.order.order_number")
    line_number = serializers.IntegerField(source="order_line.line_number")
    accounts = EntitlementAccountOut(source="entitlement_accounts.all", many=True)
    updated_at = serializers.DateTimeField()


class EntitlementWithCodeOut(EntitlementOut):
    activation_code = serializers.CharField(
        required=False, help_text="Only for clients with the entitlements:codes scope."
    )


class EntitlementPageOut(serializers.Serializer):
    next = serializers.URLField(allow_null=True, help_text="The next page; null on the last.")
    previous = serializers.URLField(allow_null=True)
    results = EntitlementWithCodeOut(many=True)


class EntitlementChangeOut(serializers.Serializer):
    cursor = serializers.CharField(
        help_text="This change's place in the feed: send it as `after` to read what follows."
    )
    type = serializers.ChoiceField(choices=ChangeKind.choices, source="kind")
    ssrn = serializers.CharField(source="entitlement.ssrn")
    status = serializers.ChoiceField(
        choices=EntitlementStatus.choices, help_text="The status right after the change."
    )
    effective_on = serializers.DateField(
        help_text="The business day it took effect (a calendar move: the first day of the status)."
    )
    recorded_at = serializers.DateTimeField(source="created_at")
    data = serializers.JSONField(
        help_text=(
            "What changed: serial_numbers (activated), serial_number and reason "
            "(activation_revoked), serial_number, new_serial_number and reason (rehosted), "
            "term_starts_on and term_ends_on (renewed), from (status_changed), "
            "certificate_version (certificate_reissued), order_number and line_number; "
            "reason (suspended, reinstated, revoked, transferred, split), seats_moved and "
            "new_ssrn (split), split_from (created by a split)."
        )
    )
    entitlement = EntitlementWithCodeOut(
        help_text="The entitlement as it is now (as GET /api/v1/entitlements/{ssrn}/ shows it)."
    )


class EntitlementChangePageOut(serializers.Serializer):
    results = EntitlementChangeOut(many=True)
    cursor = serializers.CharField(
        help_text="Keep it, and send it as `after` next time: the last change of this page, "
        "or the `after` you sent when nothing is new."
    )
    more = serializers.BooleanField(help_text="More changes wait: ask again at once.")


class ImportRowOut(serializers.Serializer):
    row = serializers.CharField()
    outcome = serializers.CharField()


class ImportOut(serializers.Serializer):
    rows = ImportRowOut(many=True)


def _account_ids_field(**kwargs):
    return serializers.ListField(
        child=contracts.TextField(max_length=20, validators=[account_id_validator]),
        max_length=1000,
        help_text="Empty (the default): every event of its types, as the ERP receives them. "
        "Else the endpoint belongs to a customer and receives only events about these accounts.",
        **kwargs,
    )


def _events_field(**kwargs):
    return serializers.ListField(
        child=serializers.ChoiceField(choices=list(EVENT_TYPES)),
        allow_empty=False,
        max_length=len(EVENT_TYPES),
        help_text="The event types it receives.",
        **kwargs,
    )


class WebhookEndpointIn(serializers.Serializer):
    url = contracts.TextField(
        max_length=2000,
        help_text="A public https:// URL; loopback and private targets are refused.",
    )
    events = _events_field()
    account_ids = _account_ids_field(required=False, default=list)
    owner_email = contracts.EmailField(
        required=False,
        allow_blank=True,
        default="",
        help_text="Told by email when the endpoint is disabled because its deliveries keep "
        "failing.",
    )
    description = contracts.TextField(required=False, allow_blank=True, default="", max_length=200)


class WebhookEndpointChangeIn(serializers.Serializer):
    url = contracts.TextField(max_length=2000, required=False)
    events = _events_field(required=False)
    account_ids = _account_ids_field(required=False)
    owner_email = contracts.EmailField(required=False, allow_blank=True)
    description = contracts.TextField(required=False, allow_blank=True, max_length=200)
    active = serializers.BooleanField(
        required=False,
        help_text="false disables the endpoint; true enables it again (its count of failed "
        "deliveries starts afresh).",
    )


class WebhookEndpointOut(serializers.Serializer):
    id = serializers.IntegerField()
    url = serializers.CharField()
    description = serializers.CharField()
    events = serializers.ListField(child=serializers.CharField())
    account_ids = serializers.ListField(child=serializers.CharField())
    owner_email = serializers.CharField()
    active = serializers.BooleanField()
    disabled_at = serializers.DateTimeField(allow_null=True)
    disabled_reason = serializers.CharField()
    consecutive_failures = serializers.IntegerField(
        help_text="Deliveries that failed for good since the last one that went through."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret = serializers.CharField(
        help_text="The signing secret, shown this once: keep it to check Keyship-Signature."
    )
