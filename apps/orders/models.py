from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Account
from apps.catalog.models import Product
from apps.core.models import TimeStampedModel

order_number_validator = RegexValidator(
    r"^[A-Za-z0-9][A-Za-z0-9-]{0,31}$", _("An order number is up to 32 letters, digits and dashes.")
)


class SalesOrder(TimeStampedModel):
    """A sales order from the business system (ERP)."""

    order_number = models.CharField(
        _("order number"), max_length=32, unique=True, validators=[order_number_validator]
    )
    language = models.CharField(
        _("language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    accounts = models.ManyToManyField(Account, through="OrderAccount", related_name="orders")

    class Meta:
        verbose_name = _("sales order")
        verbose_name_plural = _("sales orders")
        ordering = ["-id"]
        # Find matches an order number typed in any case (see core.search_terms).
        indexes = [models.Index(Lower("order_number"), name="order_number_lower_idx")]

    def __str__(self):
        return self.order_number


class AccountRole(models.TextChoices):
    SOLD_TO = "sold_to", _("Sold to")
    END_CUSTOMER = "end_customer", _("End customer")
    PARTNER = "partner", _("Partner")
    DISTRIBUTOR = "distributor", _("Distributor")


# An order has one sold-to and one end customer (the certificate's holder, the one who may
# renew); it may name any number of partners and distributors, as ERPs send them.
SINGLE_ROLES = (AccountRole.SOLD_TO, AccountRole.END_CUSTOMER)


class OrderAccount(models.Model):
    """An account on an order, in one role. Its contacts see what the order ships.

    One sold-to and one end customer per order; partners and distributors as many as the
    order names, each account once per role."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="order_accounts")
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="order_roles"
    )
    role = models.CharField(_("role"), max_length=16, choices=AccountRole.choices)

    class Meta:
        verbose_name = _("order account")
        verbose_name_plural = _("order accounts")
        ordering = ["order_id", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "role"],
                condition=Q(role__in=SINGLE_ROLES),
                name="order_account_one_sold_to_and_end_customer",
            ),
            models.UniqueConstraint(
                fields=["order", "account", "role"], name="order_account_once_per_role"
            ),
            models.CheckConstraint(
                condition=Q(role__in=AccountRole.values), name="order_account_role_valid"
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()}: {self.account.account_id}"


class OrderEmail(models.Model):
    """An address that receives the order's Fulfillment Emails."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="emails")
    email = models.EmailField(_("email address"))

    class Meta:
        verbose_name = _("email address")
        verbose_name_plural = _("email addresses")
        ordering = ["order_id", "id"]
        constraints = [
            models.UniqueConstraint("order", Lower("email"), name="order_email_unique_ci"),
        ]
        indexes = [models.Index(Lower("email"), name="order_email_lower_idx")]

    def __str__(self):
        return self.email


class Shipment(models.Model):
    """The lines of one order fulfilled together: they travel in one Fulfillment Email."""

    order = models.ForeignKey(SalesOrder, on_delete=models.PROTECT, related_name="shipments")
    shipped_on = models.DateField(_("shipped on"))
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("shipment")
        verbose_name_plural = _("shipments")
        ordering = ["-id"]
        # The dashboard counts the shipments of the last 24 hours.
        indexes = [models.Index(fields=["created_at"], name="shipment_created_idx")]

    def __str__(self):
        return f"{self.order.order_number} {self.shipped_on:%Y-%m-%d} #{self.pk}"


class LineStatus(models.TextChoices):
    OPEN = "open", _("Open")
    ON_HOLD = "on_hold", _("On hold")
    FULFILLED = "fulfilled", _("Fulfilled")
    BLOCKED = "blocked", _("Blocked")
    CANCELLED = "cancelled", _("Cancelled")


class OrderLine(TimeStampedModel):
    """One product on an order, shipped on its requested ship date."""

    order = models.ForeignKey(SalesOrder, on_delete=models.CASCADE, related_name="lines")
    line_number = models.PositiveIntegerField(_("line"))
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="order_lines"
    )
    quantity = models.PositiveIntegerField(_("quantity"))
    requested_ship_date = models.DateField(_("requested ship date"))
    status = models.CharField(
        _("status"), max_length=16, choices=LineStatus.choices, default=LineStatus.OPEN
    )
    status_reason = models.CharField(
        _("reason"), max_length=300, blank=True, help_text=_("Why the line is blocked or on hold.")
    )
    fulfilled_at = models.DateTimeField(_("fulfilled at"), null=True, blank=True)
    renews_ssrn = models.CharField(
        _("renews SSRN"),
        max_length=20,
        blank=True,
        help_text=_("For a renewal: the entitlement it renews."),
    )
    waiting_for_keys = models.PositiveIntegerField(
        _("waiting for legacy keys"),
        default=0,
        help_text=_(
            "How many more legacy keys the pool needs before this blocked line ships by itself."
        ),
    )
    shipment = models.ForeignKey(
        Shipment,
        verbose_name=_("shipment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="lines",
    )

    class Meta:
        verbose_name = _("order line")
        verbose_name_plural = _("order lines")
        ordering = ["order_id", "line_number"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "line_number"], name="order_line_number_unique"
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="order_line_quantity_positive"
            ),
            models.CheckConstraint(
                condition=Q(status__in=LineStatus.values), name="order_line_status_valid"
            ),
            models.CheckConstraint(
                condition=Q(status="fulfilled", fulfilled_at__isnull=False, shipment__isnull=False)
                | (~Q(status="fulfilled") & Q(fulfilled_at__isnull=True, shipment__isnull=True)),
                name="order_line_fulfilled_in_shipment",
            ),
            models.CheckConstraint(
                condition=Q(waiting_for_keys=0) | Q(status="blocked"),
                name="order_line_waits_only_when_blocked",
            ),
        ]
        indexes = [
            # The due-line sweep reads only open lines by date.
            models.Index(
                fields=["requested_ship_date"],
                condition=Q(status="open"),
                name="order_line_due_idx",
            ),
            models.Index(
                fields=["status", "requested_ship_date"], name="order_line_status_date_idx"
            ),
            # ...and the lines that wait for legacy keys.
            models.Index(
                fields=["requested_ship_date"],
                condition=Q(waiting_for_keys__gt=0),
                name="order_line_keys_idx",
            ),
        ]

    def __str__(self):
        return f"{self.order.order_number}/{self.line_number}"

    @property
    def entitlement(self):
        """The entitlement this line made, or None. A line makes one; entitlements split off
        it later (the app entitlements' `split_from`) share the line but are not it. Reads
        the prefetched `entitlements` when there are."""
        made = [e for e in self.entitlements.all() if e.split_from_id is None]
        return made[0] if made else None
