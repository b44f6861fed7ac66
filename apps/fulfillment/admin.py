"""Operations' view of orders: due and blocked lines, hold / release / cancel / ship now,
and on each order its shipments and every email sent for it."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _

from apps.core.admin import reason_or_form
from apps.core.dates import business_today
from apps.fulfillment.services import order_lines_ship_now
from apps.notifications.models import EmailDelivery
from apps.orders.admin import OrderLineAdminBase, SalesOrderAdminBase
from apps.orders.models import LineStatus, OrderLine, SalesOrder, Shipment
from apps.orders.services import order_lines_transition


class DueFilter(admin.SimpleListFilter):
    title = _("due")
    parameter_name = "due"

    def lookups(self, request, model_admin):
        return [("today", _("Due today")), ("overdue", _("Overdue")), ("later", _("Later"))]

    def queryset(self, request, queryset):
        today = business_today()
        open_lines = queryset.filter(status=LineStatus.OPEN)
        if self.value() == "today":
            return open_lines.filter(requested_ship_date=today)
        if self.value() == "overdue":
            return open_lines.filter(requested_ship_date__lt=today)
        if self.value() == "later":
            return open_lines.filter(requested_ship_date__gt=today)
        return queryset


@admin.register(OrderLine)
class OrderLineAdmin(OrderLineAdminBase):
    list_filter = [DueFilter, *OrderLineAdminBase.list_filter]
    actions = ["hold", "release", "cancel", "ship_now"]

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
class SalesOrderAdmin(SalesOrderAdminBase):
    readonly_fields = [
        *SalesOrderAdminBase.readonly_fields,
        "shipments",
        "emails_sent",
        "entitlements",
    ]

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
        deliveries = EmailDelivery.objects.filter(shipment__order=obj).order_by("id")
        if not deliveries:
            return "-"
        rows = format_html_join(
            "",
            "<tr><td><a href='{}'>{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            (
                (
                    reverse("admin:notifications_emaildelivery_change", args=[d.pk]),
                    d.email,
                    d.get_status_display(),
                    d.attempts,
                    d.sent_at or "",
                    d.last_error,
                )
                for d in deliveries
            ),
        )
        header = format_html(
            "<tr><th>{}</th><th>{}</th><th>{}</th><th>{}</th><th>{}</th></tr>",
            _("recipient"),
            _("status"),
            _("attempts"),
            _("sent at"),
            _("last error"),
        )
        return format_html("<table>{}{}</table>", header, rows)

    @admin.display(description=_("entitlements"))
    def entitlements(self, obj):
        url = reverse("admin:entitlements_entitlement_changelist")
        return format_html(
            '<a href="{}?q={}">{}</a>', url, obj.order_number, _("entitlements of this order")
        )


@admin.register(Shipment)
class ShipmentAdmin(admin.ModelAdmin):
    list_display = ["__str__", "order", "shipped_on", "created_at"]
    list_filter = ["shipped_on"]
    search_fields = ["=order__order_number"]
    list_select_related = ["order"]
    readonly_fields = ["order", "shipped_on", "created_at"]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
