"""The outbox: every message Keyship sends, whatever its channel or kind, is one row.

A service queues a row in its own transaction, so a message is never lost with a crash nor
sent for a write that rolled back; a worker sends it under a lease; the rescuer hands back
what a killed worker or a lost Celery message left behind.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from apps.core import sealing
from apps.core.models import QueuedWork


class Channel(models.TextChoices):
    EMAIL = "email", _("Email")
    WEBHOOK = "webhook", _("Webhook")


class DeliveryKind(models.TextChoices):
    FULFILLMENT = "fulfillment", _("Fulfillment Email")
    REMINDER_DIGEST = "reminder_digest", _("Subscription reminders")
    ACCESS_DECISION = "access_decision", _("Access request decision")
    CONTACT_NOTICE = "contact_notice", _("Contact notice")
    LICENSE_KEYS = "license_keys", _("License keys")
    SIGN_IN_LINK = "sign_in_link", _("Sign-in link")
    PASSWORD_RESET = "password_reset", _("Password reset")
    WEBHOOK_EVENT = "webhook_event", _("Webhook event")
    ENDPOINT_DISABLED = "endpoint_disabled", _("Webhook endpoint disabled")
    LIFECYCLE_NOTICE = "lifecycle_notice", _("Entitlement lifecycle notice")
    REHOST_DECISION = "rehost_decision", _("Rehost request decision")
    REHOST_NOTICE = "rehost_notice", _("Activation rehosted to a replacement device")
    # The activation code and certificate for the new owners of a transferred or split
    # entitlement (apps/entitlements/emails.py).
    ENTITLEMENT_HANDOVER = "entitlement_handover", _("Entitlement handed over")


# The kinds that reach an address once per topic (a resend is a new row with a reason): a
# shipment's Fulfillment Email, a day's reminder digest.
ONCE_PER_TOPIC = [DeliveryKind.FULFILLMENT, DeliveryKind.REMINDER_DIGEST]


# A digest is made of the reminders written for it: a copy would be empty. The next day's
# digest tells what is still due.
NOT_RESENT = [DeliveryKind.REMINDER_DIGEST]

# A sign-in link signs its own recipient in, a password-reset link sets the password of its
# recipient's login: they never go to another address.
NEVER_ELSEWHERE = [DeliveryKind.SIGN_IN_LINK, DeliveryKind.PASSWORD_RESET]


class DeliveryStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    SENDING = "sending", _("Sending")
    SENT = "sent", _("Sent")
    RETRY = "retry", _("Waiting to retry")
    FAILED = "failed", _("Failed")


IN_FLIGHT = [DeliveryStatus.QUEUED, DeliveryStatus.SENDING, DeliveryStatus.RETRY]


class TrackingStatus(models.TextChoices):
    """What the email service provider reported after it accepted the email."""

    NONE = "", _("Not reported")
    DELIVERED = "delivered", _("Delivered")
    DEFERRED = "deferred", _("Deferred")
    BOUNCED = "bounced", _("Bounced")
    REJECTED = "rejected", _("Rejected")
    COMPLAINED = "complained", _("Marked as spam")
    OPENED = "opened", _("Opened")


class Delivery(QueuedWork):
    """One message to one recipient: an email to an address, or a webhook event to an
    endpoint.

    queued -> sending -> sent, or retry (a 4xx reply, a lost connection, a timeout) ->
    sending ..., or failed (a permanent refusal, or the attempts are used up). The
    Message-ID (an event's delivery id for webhooks) is fixed when the row is made, so a
    copy sent twice is recognisable as the same message.

    `topic` names what the message is about, as "<what>:<id>" ("shipment:12",
    "digest:2026-12-01", "access_request:7", "entitlement:<SSRN>"): it keeps a message once
    per recipient and orders an endpoint's events. `about` is the same for people (an order
    number, an SSRN, an Account ID), for the admin's search.
    """

    channel = models.CharField(
        _("channel"), max_length=16, choices=Channel.choices, default=Channel.EMAIL
    )
    kind = models.CharField(_("kind"), max_length=24, choices=DeliveryKind.choices)
    topic = models.CharField(_("topic"), max_length=120)
    about = models.CharField(_("about"), max_length=200, blank=True)
    recipient = models.CharField(_("recipient"), max_length=2000)
    language = models.CharField(_("language"), max_length=8, default="en")
    # What the message names, besides its topic (no secret: those go sealed below).
    payload = models.JSONField(_("details"), default=dict, blank=True)
    # Content fixed when the message was queued that holds a secret (a sign-in link).
    content_sealed = models.TextField(blank=True, editable=False)
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
    # The endpoint a webhook event goes to (its URL is also kept as the recipient, so the
    # history stays readable once the endpoint is deleted).
    endpoint = models.ForeignKey(
        "WebhookEndpoint",
        verbose_name=_("webhook endpoint"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="deliveries",
    )
    # Delivery tracking, from the email service provider's signed webhook (django-anymail).
    esp_message_id = models.CharField(_("provider's message id"), max_length=200, blank=True)
    tracking_status = models.CharField(
        _("tracking"), max_length=16, choices=TrackingStatus.choices, blank=True
    )
    tracking_at = models.DateTimeField(_("tracked at"), null=True, blank=True)
    tracking_detail = models.CharField(_("tracking detail"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("delivery")
        verbose_name_plural = _("deliveries")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                "kind",
                "topic",
                Lower("recipient"),
                condition=Q(resend_of__isnull=True, kind__in=ONCE_PER_TOPIC),
                name="outbox_once_per_topic_and_recipient",
            ),
            models.CheckConstraint(
                condition=Q(resend_of__isnull=True) | ~Q(reason=""),
                name="outbox_resend_has_reason",
            ),
            models.CheckConstraint(
                condition=Q(status__in=DeliveryStatus.values), name="outbox_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(channel__in=Channel.values), name="outbox_channel_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="sent") | Q(sent_at__isnull=False),
                name="outbox_sent_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "sending", "retry"]),
                name="outbox_work_idx",
            ),
            models.Index(fields=["topic"], name="outbox_topic_idx"),
            # The dashboard and /metrics count each channel's rows still to send, retrying and
            # failed, and find the oldest, from this index alone (sent rows are never in it).
            models.Index(
                fields=["channel", "status", "created_at"],
                condition=Q(status__in=["queued", "sending", "retry", "failed"]),
                name="outbox_queue_idx",
            ),
            # An endpoint's events about one thing go out in order: the claim looks for an
            # earlier one of the same endpoint and topic still in flight.
            models.Index(
                fields=["endpoint", "topic"],
                condition=Q(status__in=["queued", "sending", "retry"], endpoint__isnull=False),
                name="outbox_endpoint_topic_idx",
            ),
            # The admin's search: an order number, an SSRN or an Account ID, in any case.
            models.Index(Lower("about"), name="outbox_about_lower_idx"),
            models.Index(Lower("recipient"), name="outbox_recipient_lower_idx"),
            models.Index(
                fields=["esp_message_id"],
                condition=~Q(esp_message_id=""),
                name="outbox_esp_message_idx",
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} {self.about or self.topic} -> {self.recipient}"

    @property
    def content(self) -> str:
        return sealing.unseal(self.content_sealed) if self.content_sealed else ""


def topic(what: str, key) -> str:
    """A delivery's topic: topic("shipment", 12) == "shipment:12"."""
    return f"{what}:{key}"


def topic_key(value: str, what: str) -> str | None:
    """The key of a topic about `what`, else None: topic_key("shipment:12", "shipment") == "12"."""
    prefix = f"{what}:"
    return value[len(prefix) :] if value.startswith(prefix) else None


class WebhookEndpoint(models.Model):
    """A URL that receives webhook events of the types it subscribed to, each signed with
    its secret.

    An endpoint without Account IDs is the ERP's (or another trusted system's): it receives
    every event of its types. One with Account IDs belongs to a customer and receives only
    events about those accounts. An endpoint whose deliveries keep failing for good is
    disabled (`disabled_at`) and its owner told; it receives nothing until it is enabled.
    """

    url = models.URLField(_("URL"), max_length=2000)
    description = models.CharField(_("description"), max_length=200, blank=True)
    events = models.JSONField(_("event types"), default=list)
    account_ids = models.JSONField(
        _("Account IDs"),
        default=list,
        blank=True,
        help_text=_(
            "Empty: every event of its types (the ERP). Else only events about these accounts "
            "(an endpoint of a customer)."
        ),
    )
    owner_email = models.EmailField(
        _("owner's email address"),
        blank=True,
        help_text=_("Told when the endpoint is disabled because its deliveries keep failing."),
    )
    # The signing secret, sealed like the activation codes (apps.core.sealing): shown once.
    secret_sealed = models.TextField(editable=False)
    active = models.BooleanField(_("active"), default=True)
    disabled_at = models.DateTimeField(_("disabled at"), null=True, blank=True)
    disabled_reason = models.CharField(_("why disabled"), max_length=300, blank=True)
    consecutive_failures = models.PositiveIntegerField(
        _("deliveries failed in a row"),
        default=0,
        help_text=_("Deliveries that failed for good since the last one that went through."),
    )
    # The API client that registered it, if one did (the API shows a client its own only);
    # `outbox` is below the API's models, so by id, as the audit names clients.
    api_client_id = models.PositiveBigIntegerField(_("API client id"), null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated"), auto_now=True)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(active=True, disabled_at__isnull=True)
                | Q(active=False, disabled_at__isnull=False),
                name="webhook_endpoint_disabled_has_time",
            ),
            models.CheckConstraint(condition=~Q(secret_sealed=""), name="webhook_endpoint_secret"),
        ]

    def __str__(self):
        return self.description or self.url

    @property
    def secret(self) -> str:
        return sealing.unseal(self.secret_sealed)

    def receives(self, type: str, account_ids) -> bool:
        """Whether an event of `type` about these Account IDs is for this endpoint."""
        if type not in self.events:
            return False
        return not self.account_ids or bool(set(self.account_ids) & set(account_ids))
