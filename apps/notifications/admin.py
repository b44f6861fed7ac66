from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import LargeTableAdmin, ReadOnlyAdminMixin, reason_or_form
from apps.notifications.models import EmailDelivery
from apps.notifications.services import email_deliveries_retry, email_delivery_resend


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = [
        "email",
        "order_number",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "created_at"]
    search_lookups = ["email__lower", "shipment__order__order_number"]
    search_help_text = _("A recipient's address or an order number.")
    list_select_related = ["shipment__order"]
    fields = [
        "shipment",
        "email",
        "language",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "sent_at",
        "message_id",
        "last_error",
        "resend_of",
        "reason",
        "requested_by",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["retry_now", "resend"]

    @admin.display(description=_("order"), ordering="shipment__order__order_number")
    def order_number(self, obj):
        return obj.shipment.order.order_number

    def has_change_permission(self, request, obj=None):
        # The actions change the queue through services; the form itself stays read-only.
        return obj is None and request.user.has_perm("notifications.change_emaildelivery")

    @admin.action(description=_("Send again now (failed or waiting)"), permissions=["change"])
    def retry_now(self, request, queryset):
        retried = email_deliveries_retry(
            delivery_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request,
            ngettext("%d email queued again.", "%d emails queued again.", len(retried))
            % len(retried),
        )

    @admin.action(
        description=_("Resend the Fulfillment Email (a new delivery)"), permissions=["change"]
    )
    def resend(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Resend Fulfillment Emails"), action="resend"
        )
        if page:
            return page
        for delivery in queryset.select_related("shipment"):
            email_delivery_resend(delivery=delivery, actor=request.user, reason=reason)
        self.message_user(
            request, _("Resent: %(count)d.") % {"count": queryset.count()}, messages.SUCCESS
        )
