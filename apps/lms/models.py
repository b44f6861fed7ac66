import uuid

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.catalog.models import Product
from apps.core import sealing
from apps.core.models import TimeStampedModel
from apps.entitlements.models import Entitlement


class LegacyKeyState(models.TextChoices):
    AVAILABLE = "available", _("Available")
    ASSIGNED = "assigned", _("Assigned")


class LegacyKey(TimeStampedModel):
    """A license key from the legacy License Management System, in a pool per SKU.

    The key never sits in the database in clear, as activation codes do not: a keyed digest
    (unique, so a key is in one pool once) finds it, a Fernet token holds it. Both come from
    `license_key`, which reads and sets the key.
    """

    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="legacy_keys"
    )
    license_key_digest = models.CharField(max_length=64, unique=True, editable=False)
    license_key_sealed = models.TextField(editable=False)
    state = models.CharField(
        _("state"), max_length=16, choices=LegacyKeyState.choices, default=LegacyKeyState.AVAILABLE
    )
    entitlement = models.ForeignKey(
        Entitlement,
        verbose_name=_("assigned to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="legacy_keys",
    )
    assigned_at = models.DateTimeField(_("assigned at"), null=True, blank=True)
    serial_number = models.CharField(
        _("serial number"),
        max_length=64,
        blank=True,
        help_text=_("The device a key retrieved from the legacy LMS page is bound to."),
    )
    extra = models.JSONField(_("further columns"), default=dict, blank=True)

    class Meta:
        verbose_name = _("legacy key")
        verbose_name_plural = _("legacy keys")
        ordering = ["product_id", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(state__in=LegacyKeyState.values), name="legacy_key_state_valid"
            ),
            models.CheckConstraint(
                condition=Q(state="available", entitlement__isnull=True, assigned_at__isnull=True)
                | Q(state="assigned", entitlement__isnull=False, assigned_at__isnull=False),
                name="legacy_key_assignment_consistent",
            ),
            models.CheckConstraint(
                condition=Q(serial_number="") | Q(state="assigned"),
                name="legacy_key_serial_only_when_assigned",
            ),
            # One key per device of an entitlement: the same serial again gets the same key.
            models.UniqueConstraint(
                fields=["entitlement", "serial_number"],
                condition=~Q(serial_number=""),
                name="legacy_key_one_per_serial",
            ),
        ]
        indexes = [
            models.Index(
                fields=["product"], condition=Q(state="available"), name="legacy_key_pool_idx"
            ),
            # Find looks a device up by its serial number across every entitlement.
            models.Index(
                fields=["serial_number"],
                condition=~Q(serial_number=""),
                name="legacy_key_serial_idx",
            ),
        ]

    def __str__(self):
        return f"{self.product.sku} {self.masked}"

    @property
    def license_key(self) -> str:
        return sealing.unseal(self.license_key_sealed)

    @license_key.setter
    def license_key(self, key: str) -> None:
        self.license_key_digest = sealing.legacy_key_digest(key)
        self.license_key_sealed = sealing.seal(key)

    @property
    def masked(self) -> str:
        return masked(self.license_key)


def masked(key: str) -> str:
    """A key as lists show it: its last four characters."""
    return "*" * 8 + key[-4:] if len(key) > 8 else "*" * len(key)


class LegacyKeyUpload(models.Model):
    """A key file uploaded in the admin, kept between its preview and its confirmation.

    The file stays on the server, sealed like the keys, so the preview page never carries
    the keys back and forth; only the user who uploaded it confirms it, before it expires,
    and the import removes it.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    name = models.CharField(_("file name"), max_length=255)
    text_sealed = models.TextField(editable=False)
    created_at = models.DateTimeField(_("uploaded at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))

    class Meta:
        verbose_name = _("legacy key upload")
        verbose_name_plural = _("legacy key uploads")
        indexes = [models.Index(fields=["expires_at"], name="legacy_key_upload_expiry_idx")]

    def __str__(self):
        return self.name

    @property
    def text(self) -> str:
        return sealing.unseal(self.text_sealed)
