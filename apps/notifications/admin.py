from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import LargeTableAdmin, ReadOnlyAdminMixin, reason_or_form
from apps.notifications.models import DeliveryKind, EmailDelivery
from apps.notifications.services import email_deliveries_retry, email_delivery_resend


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = [
        "email",
        "kind",
        "subject",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "last_error",
    ]
    list_filter = ["status", "kind", "created_at"]
    search_lookups = ["email__lower", "shipment__order__order_number"]
    search_help_text = _("A recipient's address or an order number.")
    list_select_related = ["shipment__order"]
    fields = [
        "kind",
        "shipment",
        "digest_day",
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

    @admin.display(description=_("about"))
    def subject(self, obj):
        # A Fulfillment Email is about an order; a reminder digest about one day's reminders.
        return obj.shipment.order.order_number if obj.shipment_id else obj.digest_day

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
        fulfillment = queryset.filter(kind=DeliveryKind.FULFILLMENT).select_related("shipment")
        for delivery in fulfillment:
            email_delivery_resend(delivery=delivery, actor=request.user, reason=reason)
        skipped = queryset.count() - len(fulfillment)
        self.message_user(
            request,
            _("Resent: %(count)d. Reminder digests are not resent: %(skipped)d.")
            % {"count": len(fulfillment), "skipped": skipped},
            messages.SUCCESS if not skipped else messages.WARNING,
        )
