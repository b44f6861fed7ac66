from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from apps.core import sealing
from apps.entitlements.models import Term
from apps.orders.models import Shipment
from apps.outbox.models import Delivery


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
        Delivery, verbose_name=_("digest"), on_delete=models.CASCADE, related_name="reminders"
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
