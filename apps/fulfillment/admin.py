"""Operations' view of orders: due and blocked lines, hold / release / cancel / ship now,
and on each order its shipments and every email sent for it."""

import re

from django.contrib import admin, messages
from django.db import transaction
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.admin import (
    ReadOnlyAdminMixin,
    ServiceRefused,
    ServiceSavedAdminMixin,
    reason_or_form,
)
from apps.core.bulk_admin import BulkActionAdminMixin
from apps.core.contracts import Rejected, validate
from apps.core.dates import business_today
from apps.entitlements.selectors import renewal_problem
from apps.fulfillment.services import order_lines_ship_now
from apps.notifications.selectors import order_deliveries
from apps.orders.admin import FINAL_STATUSES, OrderLineAdminBase, SalesOrderAdminBase
from apps.orders.contracts import OrderIn
from apps.orders.models import LineStatus, OrderAccount, OrderEmail, OrderLine, SalesOrder, Shipment
from apps.orders.selectors import sales_order_body, sales_order_has_shipped
from apps.orders.services import order_lines_transition, sales_order_upsert
from apps.outbox.admin_send_elsewhere import tracking_html

_LINE_PATH = re.compile(r"^lines\[(\d+)\]")


def order_save(request, *, data: dict) -> SalesOrder:
    """Save an order edited in the admin through sales_order_upsert, as the API and the
    imports do: the same contract, the same rules (a shipped line is final, a change is a
    Conflict, a renewal must be the end customer's), the same audit event, with the member
    of staff as its actor. ServiceRefused with every problem, where it is, otherwise."""
    try:
        with transaction.atomic():
            order, _outcome = sales_order_upsert(
                data=validate(OrderIn, data),
                actor=request.user,
                renewal_check=renewal_problem,
                may_change_recipients=request.user.has_perm("entitlements.view_activation_code"),
            )
    except Rejected as rejected:
        raise ServiceRefused([_where(error, data) for error in rejected.errors]) from None
    return order


def _where(error: str, data: dict) -> str:
    """'lines[2].quantity: ...' names the line by its number, as the page shows it."""

    def line(match):
        index = int(match.group(1))
        if index < len(data["lines"]):
            return gettext("line %(number)s") % {"number": data["lines"][index]["line_number"]}
        return match.group(0)

    return _LINE_PATH.sub(line, error)


def _line_row(line: OrderLine) -> dict:
    return {
        "line_number": line.line_number,
        "sku": line.product.sku if line.product_id else "",
        "quantity": line.quantity,
        "requested_ship_date": line.requested_ship_date,
        "renews_ssrn": line.renews_ssrn,
    }


class DueFilter(admin.SimpleListFilter):
    title = _("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [
            ("today", _("Due today")),
            ("overdue", _("Overdue")),
            ("later", _("Later")),
            ("due", _("Due, not shipped")),
            ("scheduled", _("Requested for today")),
        ]

    def queryset(self, request, queryset):
        today = business_today()
        open_lines = queryset.filter(status=LineStatus.OPEN)
        if self.value() == "today":
            return open_lines.filter(requested_ship_date=today)
        if self.value() == "overdue":
            return open_lines.filter(requested_ship_date__lt=today)
        if self.value() == "scheduled":
            return queryset.filter(requested_ship_date=today).exclude(status=LineStatus.CANCELLED)
        if self.value() == "due":
            return open_lines.filter(requested_ship_date__lte=today)
        if self.value() == "later":
            return open_lines.filter(requested_ship_date__gt=today)
        return queryset


class ReasonFilter(admin.SimpleListFilter):
    """Blocked and held lines by their reason (the dashboard links here per reason)."""

    title = _("reason")
    parameter_name = "reason"

    def lookups(self, request, model_admin):
        reasons = (
            OrderLine.objects.filter(status__in=[LineStatus.BLOCKED, LineStatus.ON_HOLD])
            .exclude(status_reason="")
            .values_list("status_reason", flat=True)
            .distinct()
            .order_by("status_reason")[:50]
        )
        return [(reason, reason) for reason in reasons]

    def queryset(self, request, queryset):
        if self.value():
            return queryset.filter(status_reason=self.value())
        return queryset


@admin.register(OrderLine)
class OrderLineAdmin(BulkActionAdminMixin, ServiceSavedAdminMixin, OrderLineAdminBase):
    """A line is added to, or changed on, its order through sales_order_upsert; once it is
    fulfilled or cancelled its page is read-only, and the actions change the states."""

    list_filter = [DueFilter, ReasonFilter, *OrderLineAdminBase.list_filter]
    actions = ["hold", "release", "cancel", "ship_now", "bulk"]
    bulk_kind = "order_line"
    fields = [
        "order",
        "line_number",
        "product",
        "quantity",
        "requested_ship_date",
        "renews_ssrn",
        "what_may_change",
        *OrderLineAdminBase.readonly_fields,
    ]

    def get_readonly_fields(self, request, obj=None):
        fields = [*self.readonly_fields, "what_may_change"]
        if obj is None:
            return fields
        if obj.status in FINAL_STATUSES:
            return [
                *fields,
                "order",
                "line_number",
                "product",
                "quantity",
                "requested_ship_date",
                "renews_ssrn",
            ]
        return [*fields, "order", "line_number"]

    @admin.display(description=_("what may change"))
    def what_may_change(self, obj):
        if obj is None or obj.pk is None:
            return gettext(
                "The line is added to its order as the ERP would add it: its SKU must be sold, "
                "and a renewal must name an SSRN of the order's end customer."
            )
        if obj.status in FINAL_STATUSES:
            return gettext(
                "This line is %(status)s: it no longer changes. A fulfilled line has made its "
                "entitlement; reissue its certificate or resend its email from there."
            ) % {"status": obj.get_status_display()}
        return gettext(
            "Product, quantity, ship date and renewed SSRN change until the line ships, "
            "under the same rules as the ERP's changes. To hold, release, cancel or ship it "
            "now, use the actions of the list of order lines."
        )

    def save_model(self, request, obj, form, change):
        order = obj.order
        data = sales_order_body(order=order)
        row = _line_row(obj)
        data["lines"] = [
            line for line in data["lines"] if line["line_number"] != row["line_number"]
        ] + [row]
        if not change and any(line.line_number == obj.line_number for line in order.lines.all()):
            raise ServiceRefused(
                [
                    gettext("line_number: order %(order)s has a line %(number)s already")
                    % {"order": order.order_number, "number": obj.line_number}
                ]
            )
        order_save(request, data=data)
        obj.pk = OrderLine.objects.get(order=order, line_number=obj.line_number).pk

    def _transition(self, request, queryset, action, reason=""):
        changed = order_lines_transition(
            line_ids=list(queryset.values_list("pk", flat=True)),
            action=action,
            actor=request.user,
            reason=reason,
        )
        skipped = queryset.count() - len(changed)
        self.message_user(
            request,
            _("Changed: %(changed)d, left as they were: %(skipped)d.")
            % {
                "changed": len(changed),
                "skipped": skipped,
            },
        )

    @admin.action(description=_("Hold (stop them from shipping)"), permissions=["change"])
    def hold(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Hold order lines"), action="hold"
        )
        if page:
            return page
        self._transition(request, queryset, "hold", reason)

    @admin.action(description=_("Release (ship when due)"), permissions=["change"])
    def release(self, request, queryset):
        self._transition(request, queryset, "release")

    @admin.action(description=_("Cancel"), permissions=["change"])
    def cancel(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Cancel order lines"), action="cancel"
        )
        if page:
            return page
        self._transition(request, queryset, "cancel", reason)

    @admin.action(description=_("Ship now (today, whatever the date)"), permissions=["change"])
    def ship_now(self, request, queryset):
        report = order_lines_ship_now(lines=list(queryset), actor=request.user)
        self.message_user(
            request,
            _("Shipped: %(shipped)d, blocked: %(blocked)d.")
            % {
                "shipped": len(report.shipped),
                "blocked": len(report.blocked),
            },
            messages.SUCCESS if not report.blocked else messages.WARNING,
        )


@admin.register(SalesOrder)
class SalesOrderAdmin(ServiceSavedAdminMixin, SalesOrderAdminBase):
    """The order's page saves the order, its accounts, addresses and lines in one call of
    sales_order_upsert: what the API and the imports call, with their rules."""

    fields = [
        "order_number",
        "language",
        "what_may_change",
        "shipments",
        "emails_sent",
        "entitlements",
        "created_at",
        "updated_at",
    ]
    readonly_fields = [
        *SalesOrderAdminBase.readonly_fields,
        "what_may_change",
        "shipments",
        "emails_sent",
        "entitlements",
    ]

    def get_readonly_fields(self, request, obj=None):
        # The order number is what the ERP knows the order by: a new number is a new order.
        return [*self.readonly_fields, "order_number"] if obj else self.readonly_fields

    def has_delete_permission(self, request, obj=None):
        return False  # an order's lines are cancelled, never deleted

    @admin.display(description=_("what may change"))
    def what_may_change(self, obj):
        url = reverse("admin:orders_orderline_changelist")
        actions = format_html(
            '<a href="{}?q={}">{}</a>',
            url,
            obj.order_number if obj and obj.pk else "",
            gettext("the actions of the order lines (hold, release, cancel, ship now)"),
        )
        if obj is not None and sales_order_has_shipped(order=obj):
            text = gettext(
                "Lines of this order have shipped: its accounts and email addresses, and its "
                "fulfilled and cancelled lines, no longer change. Open lines change here; to "
                "hold, release, cancel or ship them now use %(actions)s."
            )
        else:
            text = gettext(
                "Saved as the ERP's changes are: fulfilled and cancelled lines no longer "
                "change, and the accounts and email addresses of an existing order change "
                "only for staff who may see activation codes. To hold, release, cancel or "
                "ship lines now use %(actions)s."
            )
        return format_html(text.replace("%(actions)s", "{}"), actions)

    def save_model(self, request, obj, form, change):
        pass  # save_related saves the order with its inlines, through the service

    def save_related(self, request, form, formsets, change):
        obj = form.instance
        # An inline the user may not even view is not on the page: its rows stay as stored.
        stored = (
            sales_order_body(order=obj) if obj.pk else {"accounts": [], "emails": [], "lines": []}
        )
        parts = {OrderAccount: "accounts", OrderEmail: "emails", OrderLine: "lines"}
        data = {"order_number": obj.order_number, "language": obj.language}
        for formset in formsets:
            part = parts.get(formset.model)
            if part is None:
                continue
            data[part] = [_body_row(part, row) for row in _kept_rows(formset)]
        for part in parts.values():
            data.setdefault(part, stored[part])
        order = order_save(request, data=data)
        obj.pk, obj.created_at, obj.updated_at = order.pk, order.created_at, order.updated_at

    @admin.display(description=_("shipments"))
    def shipments(self, obj):
        rows = Shipment.objects.filter(order=obj).prefetch_related("lines").order_by("id")
        return (
            format_html_join(
                "",
                "<div>{} &middot; {}: {}</div>",
                (
                    (
                        s.shipped_on,
                        _("lines"),
                        ", ".join(str(line.line_number) for line in s.lines.all()),
                    )
                    for s in rows
                ),
            )
            or "-"
        )

    @admin.display(description=_("Fulfillment Emails"))
    def emails_sent(self, obj):
        deliveries = order_deliveries(order=obj)
        if not deliveries:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td>"
            "<td>{}</td></tr>",
            (
                (
                    reverse("admin:outbox_delivery_change", args=[d.pk]),
                    d.recipient,
                    d.get_status_display(),
                    d.attempts,
                    d.sent_at or "",
                    tracking_html(d),
                    d.last_error,
                )
                for d in deliveries
            ),
        )
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("recipient"),
            _("status"),
            _("attempts"),
            _("sent at"),
            _("tracking"),
            _("last error"),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description=_("entitlements"))
    def entitlements(self, obj):
        url = reverse("admin:entitlements_entitlement_changelist")
        return format_html(
            '<a href="{}?q={}">{}</a>', url, obj.order_number, _("entitlements of this order")
        )


def _body_row(part: str, row):
    if part == "accounts":
        return {"account_id": row.account.account_id, "name": row.account.name, "role": row.role}
    if part == "emails":
        return row.email
    return _line_row(row)


def _kept_rows(formset) -> list:
    """The rows an inline formset keeps: its forms' instances, which carry what was posted
    (or the stored values of a read-only form), without the deleted and the empty extra ones."""
    deleted = set(map(id, formset.deleted_forms)) if formset.can_delete else set()
    return [
        form.instance
        for form in formset.forms
        if id(form) not in deleted and (form.instance.pk is not None or form.has_changed())
    ]


@admin.register(Shipment)
class ShipmentAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["__str__", "order", "shipped_on", "created_at"]
    list_filter = ["shipped_on", "created_at"]
    search_fields = ["=order__order_number"]
    list_select_related = ["order"]
    readonly_fields = ["order", "shipped_on", "created_at"]
