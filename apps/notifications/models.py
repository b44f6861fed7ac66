from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from apps.core import sealing
from apps.core.models import QueuedWork
from apps.entitlements.models import Term
from apps.orders.models import Shipment


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    RETRY = "retry", _("Waiting to retry")
    FAILED = "failed", _("Failed")


class DeliveryKind(models.TextChoices):
    FULFILLMENT = "fulfillment", _("Fulfillment Email")
    REMINDER_DIGEST = "reminder_digest", _("Subscription reminders")


class EmailDelivery(QueuedWork):
    """One Fulfillment Email of one shipment to one address.

    queued -> sending -> sent, or retry (a 4xx reply, a lost connection) -> sending ..., or
    failed (a 5xx reply, or the attempts are used up). The Message-ID is fixed when the row
    is made, so a copy sent twice is recognisable as the same message.
    """

    kind = models.CharField(
        _("kind"), max_length=24, choices=DeliveryKind.choices, default=DeliveryKind.FULFILLMENT
    )
    shipment = models.ForeignKey(
        Shipment,
        verbose_name=_("shipment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deliveries",
    )
    digest_day = models.DateField(_("reminders of"), null=True, blank=True)
    email = models.EmailField(_("recipient"))
    language = models.CharField(_("language"), max_length=8, default="en")
    status = models.CharField(
        _("status"), max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.QUEUED
    )
    message_id = models.CharField(_("Message-ID"), max_length=200, unique=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    resend_of = models.ForeignKey(
        "self",
        verbose_name=_("resend of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="resends",
    )
    reason = models.CharField(_("reason for resending"), max_length=200, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("email delivery")
        verbose_name_plural = _("email deliveries")
        ordering = ["-id"]
        constraints = [
            # Each address gets a shipment's email once; a resend is a new row with a reason.
            models.UniqueConstraint(
                "shipment",
                Lower("email"),
                condition=Q(resend_of__isnull=True),
                name="delivery_once_per_recipient",
            ),
            # One reminder digest a day per address, however many reminder runs meet.
            models.UniqueConstraint(
                Lower("email"),
                "digest_day",
                condition=Q(kind="reminder_digest"),
                name="digest_once_per_address_per_day",
            ),
            models.CheckConstraint(
                condition=Q(resend_of__isnull=True) | ~Q(reason=""),
                name="delivery_resend_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="delivery_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="delivery_sent_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "sending", "retry"]),
                name="delivery_work_idx",
            ),
        ]

    def __str__(self):
        subject = self.shipment if self.shipment_id else f"reminders {self.digest_day}"
        return f"{subject} -> {self.email}"


class ShipmentEmail(models.Model):
    """A shipment's Fulfillment Email in one language, rendered once, when the shipment's
    documents are ready: every address on the order gets it, and a resend sends it again as
    it was. The certificates are attached as they are when it is sent.

    The bodies carry activation codes, so they are sealed at rest like the codes themselves.
    """

    shipment = models.ForeignKey(
        Shipment, verbose_name=_("shipment"), on_delete=models.CASCADE, related_name="emails"
    )
    language = models.CharField(_("language"), max_length=8)
    subject = models.CharField(_("subject"), max_length=250)
    text_sealed = models.TextField(editable=False)
    html_sealed = models.TextField(editable=False)
    created_at = models.DateTimeField(_("rendered"), auto_now_add=True)

    class Meta:
        verbose_name = _("Fulfillment Email")
        verbose_name_plural = _("Fulfillment Emails")
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "language"], name="shipment_email_once_per_language"
            )
        ]

    def __str__(self):
        return f"{self.shipment} ({self.language})"

    @property
    def text(self) -> str:
        return sealing.unseal(self.text_sealed)

    @property
    def html(self) -> str:
        return sealing.unseal(self.html_sealed)


class Reminder(models.Model):
    """That one window of one subscription term was told to one address, in a digest."""

    term = models.ForeignKey(
        Term, verbose_name=_("term"), on_delete=models.CASCADE, related_name="reminders"
    )
    window = models.CharField(_("window"), max_length=16)
    email = models.EmailField(_("recipient"))
    delivery = models.ForeignKey(
        EmailDelivery, verbose_name=_("digest"), on_delete=models.CASCADE, related_name="reminders"
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("reminder")
        verbose_name_plural = _("reminders")
        ordering = ["-id"]
        constraints = [
            # Each window is told once per term and address, however often the job runs.
            models.UniqueConstraint(
                "term", "window", Lower("email"), name="reminder_once_per_window"
            ),
        ]

    def __str__(self):
        return f"{self.term} {self.window} -> {self.email}"
