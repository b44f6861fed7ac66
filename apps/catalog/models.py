from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel


class DeliveryMethod(models.TextChoices):
    JAL = "jal", _("Activation code and portal activation")
    HERITAGE_KEY = "heritage_key", _("License key attached to the email")
    HERITAGE_DOCUMENT = "heritage_document", _("Entitlement document, no key to install")
    HERITAGE_NO_ACTIVATION = "heritage_no_activation", _("Document, no activation needed")
    LEGACY_LMS = "legacy_lms", _("Keys from the legacy License Management System")
    PAPER = "paper", _("Paper license shipped with the hardware")


class LicenseType(models.TextChoices):
    PERPETUAL = "perpetual", _("Perpetual")
    SUBSCRIPTION = "subscription", _("Subscription")


class Product(TimeStampedModel):
    """A SKU that can be sold, and how its license is delivered."""

    sku = models.CharField(_("SKU"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    delivery_method = models.CharField(
        _("delivery method"),
        max_length=32,
        choices=DeliveryMethod.choices,
        default=DeliveryMethod.JAL,
    )
    license_type = models.CharField(
        _("license type"), max_length=16, choices=LicenseType.choices, default=LicenseType.PERPETUAL
    )
    term_months = models.PositiveSmallIntegerField(
        _("term (months)"), null=True, blank=True, help_text=_("Required for subscriptions.")
    )
    renews = models.ForeignKey(
        "self",
        verbose_name=_("renewal of"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="renewal_skus",
        help_text=_("For a renewal SKU: the subscription SKU it renews."),
    )
    instructions_url = models.URLField(_("instructions URL"), blank=True)
    is_active = models.BooleanField(
        _("on sale"), default=True, help_text=_("Lines of a retired product do not ship.")
    )

    class Meta:
        verbose_name = _("product")
        verbose_name_plural = _("products")
        ordering = ["sku"]
        constraints = [
            models.CheckConstraint(
                condition=Q(delivery_method__in=DeliveryMethod.values),
                name="product_delivery_method_valid",
            ),
            models.CheckConstraint(
                # NULL > 0 is not false in SQL: a missing term must be refused explicitly.
                condition=Q(
                    license_type="subscription", term_months__isnull=False, term_months__gt=0
                )
                | (Q(license_type="perpetual") & Q(term_months__isnull=True)),
                name="product_term_matches_license_type",
            ),
            models.CheckConstraint(
                condition=Q(renews__isnull=True) | Q(license_type="subscription"),
                name="product_renewal_is_subscription",
            ),
        ]

    def __str__(self):
        return f"{self.sku} {self.name}"

    @property
    def is_subscription(self) -> bool:
        return self.license_type == LicenseType.SUBSCRIPTION
