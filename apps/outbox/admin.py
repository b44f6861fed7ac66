from django.contrib import admin, messages
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.core.admin import LargeTableAdmin, ReadOnlyAdminMixin, query_filter, reason_or_form
from apps.core.codes import CodeKind, parse_code
from apps.outbox.admin_send_elsewhere import SendElsewhereAdminMixin, tracking_html
from apps.outbox.models import IN_FLIGHT, NOT_RESENT, Channel, Delivery
from apps.outbox.services import deliveries_retry, delivery_resend

QueueFilter = query_filter(
    _("queue"), "queue", {"pending": (_("Not sent yet"), Q(status__in=IN_FLIGHT))}
)


@admin.register(Delivery)
class DeliveryAdmin(SendElsewhereAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin):
    """The queue of every outgoing message: Fulfillment Emails, reminders, access decisions,
    notices, license keys, sign-in links and webhook events."""

    list_display = [
        "recipient",
        "channel",
        "kind",
        "about",
        "status",
        "attempts",
        "next_attempt_at",
        "sent_at",
        "tracking",
        "last_error",
    ]
    list_filter = [
        QueueFilter,
        "status",
        "channel",
        "kind",
        "tracking_status",
        "created_at",
        "endpoint",
    ]
    search_lookups = ["recipient__lower", "about__lower"]
    search_help_text = _("A recipient (address or URL), an order number, an SSRN or an Account ID.")
    fields = [
        "channel",
        "kind",
        "about",
        "topic",
        "recipient",
        "endpoint",
        "language",
        "status",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "sent_at",
        "message_id",
        "event_id",
        "last_error",
        "tracking_status",
        "tracking_at",
        "tracking_detail",
        "resend_of",
        "reason",
        "requested_by",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["retry_now", "resend"]

    def search_ids(self, term: str) -> set:
        ids = super().search_ids(term)
        code = parse_code(term.strip())
        if code.kind == CodeKind.SSRN and code.value.lower() != term.strip().lower():
            # An SSRN typed with spaces or look-alikes: as it is stored.
            ids |= super().search_ids(code.value)
        return ids

    @admin.display(description=_("tracking"), ordering="tracking_status")
    def tracking(self, obj):
        return tracking_html(obj)

    @admin.display(description=_("event id"))
    def event_id(self, obj):
        return obj.payload.get("id", "") if obj.channel == Channel.WEBHOOK else ""

    def has_change_permission(self, request, obj=None):
        # The actions change the queue through services; the form itself stays read-only.
        return obj is None and request.user.has_perm("outbox.change_delivery")

    @admin.action(description=_("Send again now (failed or waiting)"), permissions=["change"])
    def retry_now(self, request, queryset):
        retried = deliveries_retry(
            delivery_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request,
            ngettext("%d message queued again.", "%d messages queued again.", len(retried))
            % len(retried),
        )

    @admin.action(
        description=_("Resend (a new delivery of the same message)"), permissions=["change"]
    )
    def resend(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Resend messages"), action="resend"
        )
        if page:
            return page
        rows = list(queryset.exclude(kind__in=NOT_RESENT))
        for delivery in rows:
            delivery_resend(delivery=delivery, actor=request.user, reason=reason)
        skipped = queryset.count() - len(rows)
        self.message_user(
            request,
            _("Resent: %(count)d. Reminder digests are not resent: %(skipped)d.")
            % {"count": len(rows), "skipped": skipped},
            messages.SUCCESS if not skipped else messages.WARNING,
        )
