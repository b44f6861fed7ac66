import datetime

from django.conf import settings
from django.db import models
from django.db.models import Case, F, Q, Value, When
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import Account
from apps.catalog.models import Product
from apps.core import sealing
from apps.core.models import QueuedWork, TimeStampedModel
from apps.orders.models import AccountRole, OrderLine


class EntitlementStatus(models.TextChoices):
    ACTIVE = "active", _("Active")
    GRACE = "grace", _("In grace period")
    EXPIRED = "expired", _("Expired")
    REVOKED = "revoked", _("Revoked")
    SUSPENDED = "suspended", _("Suspended")


class EntitlementQuerySet(models.QuerySet):
    def with_status(self, today: datetime.date):
        """Annotate `status` from the dates, as of `today` in the business time zone."""
        return self.annotate(
            status=Case(
                When(revoked_at__isnull=False, then=Value(EntitlementStatus.REVOKED)),
                When(suspended_at__isnull=False, then=Value(EntitlementStatus.SUSPENDED)),
                When(term_ends_on__isnull=True, then=Value(EntitlementStatus.ACTIVE)),
                When(term_ends_on__gte=today, then=Value(EntitlementStatus.ACTIVE)),
                When(grace_ends_on__gte=today, then=Value(EntitlementStatus.GRACE)),
                default=Value(EntitlementStatus.EXPIRED),
                output_field=models.CharField(),
            )
        )


class Entitlement(TimeStampedModel):
    """What a customer owns once an order line has shipped."""

    ssrn = models.CharField(_("SSRN"), max_length=16, unique=True)
    activation_code_digest = models.CharField(max_length=64, unique=True, editable=False)
    activation_code_sealed = models.TextField(editable=False)
    product = models.ForeignKey(
        Product, verbose_name=_("product"), on_delete=models.PROTECT, related_name="entitlements"
    )
    # The line that bought the seats. A split shares its source's line (see split_from);
    # any other entitlement is the one its line made (entitlement_one_per_line).
    order_line = models.ForeignKey(
        OrderLine,
        verbose_name=_("order line"),
        on_delete=models.PROTECT,
        related_name="entitlements",
        related_query_name="entitlement",  # lookups stay as with one entitlement per line
    )
    split_from = models.ForeignKey(
        "self",
        verbose_name=_("split from"),
        on_delete=models.PROTECT,
        related_name="splits",
        null=True,
        blank=True,
        help_text=_("The entitlement whose seats this one took."),
    )
    # Set by a transfer: the order's addresses no longer see it, since its code changed.
    transferred_at = models.DateTimeField(_("last transferred at"), null=True, blank=True)
    quantity = models.PositiveIntegerField(_("quantity"))
    accounts = models.ManyToManyField(
        Account,
        through="EntitlementAccount",
        related_name="entitlements",
        verbose_name=_("accounts"),
    )
    starts_on = models.DateField(_("start"))
    term_ends_on = models.DateField(_("term end"), null=True, blank=True)
    grace_ends_on = models.DateField(_("grace end"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoke_reason = models.CharField(_("reason for revoking"), max_length=200, blank=True)
    # Suspended: no new activation or key handout until reinstated (lifecycle.py).
    suspended_at = models.DateTimeField(_("suspended at"), null=True, blank=True)
    suspend_reason = models.CharField(_("reason for suspending"), max_length=200, blank=True)
    # Paper licenses ship with the hardware; Operations records what went in the box.
    paper_certificate_number = models.CharField(
        _("paper certificate number"), max_length=64, blank=True
    )
    tracking_number = models.CharField(_("shipment tracking number"), max_length=64, blank=True)
    # Statuses move by the calendar without a write; the change feed's job compares this with
    # the dates and records each move once (see apps/entitlements/changes.py).
    feed_status = models.CharField(
        _("status in the change feed"),
        max_length=16,
        choices=EntitlementStatus.choices,
        default=EntitlementStatus.ACTIVE,
        editable=False,
    )

    objects = EntitlementQuerySet.as_manager()

    class Meta:
        verbose_name = _("entitlement")
        verbose_name_plural = _("entitlements")
        ordering = ["-id"]  # newest first, on the primary key's index
        permissions = [
            ("view_activation_code", _("Can see activation codes")),
            ("reissue_certificate", _("Can reissue certificates")),
            ("record_paper_delivery", _("Can record paper certificates and tracking numbers")),
            ("suspend_entitlement", _("Can suspend and reinstate entitlements")),
            ("revoke_entitlement", _("Can revoke entitlements")),
            ("transfer_entitlement", _("Can transfer and split entitlements")),
        ]
        constraints = [
            # Never a second entitlement (and code) for the same line, but for a split's.
            models.UniqueConstraint(
                fields=["order_line"],
                condition=Q(split_from__isnull=True),
                name="entitlement_one_per_line",
            ),
            models.CheckConstraint(
                condition=Q(quantity__gt=0), name="entitlement_quantity_positive"
            ),
            models.CheckConstraint(
                # Perpetual: no term end and no grace. Otherwise start <= term end <= grace end;
                # each date is named non-null because a comparison with NULL passes a CHECK.
                condition=Q(term_ends_on__isnull=True, grace_ends_on__isnull=True)
                | Q(
                    term_ends_on__isnull=False,
                    term_ends_on__gte=F("starts_on"),
                    grace_ends_on__isnull=True,
                )
                | Q(
                    term_ends_on__isnull=False,
                    grace_ends_on__isnull=False,
                    term_ends_on__gte=F("starts_on"),
                    grace_ends_on__gte=F("term_ends_on"),
                ),
                name="entitlement_dates_in_order",
            ),
            models.CheckConstraint(
                condition=Q(feed_status__in=EntitlementStatus.values),
                name="entitlement_feed_status_valid",
            ),
            # What EntitlementAccount.product's composite foreign key refers to.
            models.UniqueConstraint(fields=["id", "product"], name="entitlement_id_product"),
        ]
        indexes = [
            # The portal's list, newest first: a page is read by walking this index and
            # keeping what the user sees, instead of sorting all of it.
            models.Index(fields=["starts_on", "id"], name="entitlement_starts_idx"),
            # The change feed's job finds the entitlements whose term or grace has just ended.
            models.Index(
                fields=["term_ends_on"],
                condition=Q(feed_status="active"),
                name="entitlement_term_due_idx",
            ),
            models.Index(
                fields=["grace_ends_on"],
                condition=Q(feed_status="grace"),
                name="entitlement_grace_due_idx",
            ),
        ]

    def __str__(self):
        return self.ssrn

    def status_on(self, today: datetime.date) -> str:
        """The status as of `today` in the business time zone (as `with_status` computes it)."""
        if self.revoked_at:
            return EntitlementStatus.REVOKED
        if self.suspended_at:
            return EntitlementStatus.SUSPENDED
        if self.term_ends_on is None or self.term_ends_on >= today:
            return EntitlementStatus.ACTIVE
        if self.grace_ends_on and self.grace_ends_on >= today:
            return EntitlementStatus.GRACE
        return EntitlementStatus.EXPIRED

    def days_left(self, today: datetime.date) -> int | None:
        """Days until the end of the current status (term, then grace); None when it has no end."""
        if self.revoked_at or self.suspended_at or self.term_ends_on is None:
            return None
        end = self.term_ends_on if today <= self.term_ends_on else self.grace_ends_on
        return (end - today).days if end and end >= today else None

    @property
    def works_until(self) -> datetime.date | None:
        """The last day its devices work, as their license keys say: the grace end of an
        initial subscription, the term end of a renewal (which has no grace); None when
        perpetual."""
        return self.grace_ends_on or self.term_ends_on

    @property
    def activation_code(self) -> str:
        """The activation code in clear. A secret: never log it."""
        return sealing.unseal(self.activation_code_sealed)


class EntitlementAccount(models.Model):
    """An account that sees an entitlement, and in which role it was on the order."""

    entitlement = models.ForeignKey(
        Entitlement, on_delete=models.CASCADE, related_name="entitlement_accounts"
    )
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.PROTECT,
        related_name="entitlement_roles",
    )
    role = models.CharField(_("role"), max_length=16, choices=AccountRole.choices)
    # Null: since the entitlement was made. Set when a transfer or split gives the role.
    since = models.DateTimeField(_("since"), null=True, blank=True)
    # The entitlement's product, copied so that the products an account holds (the portal's
    # product filter and its counts) are read from this table's index alone, never from the
    # entitlements. A composite foreign key to the entitlement's (id, product) keeps the
    # copy equal to it, and follows a change of product (migration 0017).
    product = models.ForeignKey(
        Product,
        verbose_name=_("product"),
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,  # read through entitlement_account_held_idx, never by product alone
    )

    class Meta:
        verbose_name = _("entitlement account")
        verbose_name_plural = _("entitlement accounts")
        constraints = [
            models.UniqueConstraint(
                fields=["entitlement", "account", "role"], name="entitlement_account_unique"
            ),
        ]
        indexes = [
            # What an account sees, read from the index alone: a portal contact's entitlements
            # and the Seats pages' rollup walk it for each of their accounts.
            models.Index(fields=["account", "entitlement"], name="entitlement_account_seen_idx"),
            # What products an account holds, and how many entitlements of each, index-only.
            models.Index(
                fields=["account", "product", "entitlement"],
                name="entitlement_account_held_idx",
            ),
        ]

    def __str__(self):
        return f"{self.account.account_id} ({self.get_role_display()})"


class EntitlementAccountHistory(models.Model):
    """An account that saw an entitlement until a transfer took it away, in which role,
    from when until when and why. Rows are only ever added."""

    entitlement = models.ForeignKey(
        Entitlement,
        verbose_name=_("entitlement"),
        on_delete=models.CASCADE,
        related_name="account_history",
    )
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.PROTECT, related_name="+"
    )
    role = models.CharField(_("role"), max_length=16, choices=AccountRole.choices)
    since = models.DateTimeField(_("from"))
    until = models.DateTimeField(_("until"))
    reason = models.CharField(_("reason for the transfer"), max_length=200)

    class Meta:
        verbose_name = _("previous account")
        verbose_name_plural = _("previous accounts")
        ordering = ["entitlement_id", "-until", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(until__gte=F("since")), name="entitlement_account_history_in_order"
            ),
        ]

    def __str__(self):
        return f"{self.account.account_id} ({self.get_role_display()}) until {self.until:%Y-%m-%d}"


class Activation(models.Model):
    """An entitlement bound to a device serial number, with the license key it produced."""

    entitlement = models.ForeignKey(
        Entitlement,
        verbose_name=_("entitlement"),
        on_delete=models.PROTECT,
        related_name="activations",
    )
    serial_number = models.CharField(_("serial number"), max_length=64, db_index=True)
    license_key = models.TextField(_("license key"))
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("activated by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("activated at"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)
    revoke_reason = models.CharField(_("reason for revoking"), max_length=200, blank=True)
    # A rehost (RMA) ends the failed device's activation and starts this one on its
    # replacement: the link keeps the device's history readable (rehosts.py).
    rehosted_from = models.ForeignKey(
        "self",
        verbose_name=_("rehosted from"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rehosted_to",
    )
    # The device's last key refresh (key_refresh.py); each replaced key is kept as a
    # SupersededLicenseKey without a renewal.
    last_refreshed_at = models.DateTimeField(_("key last refreshed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("activation")
        verbose_name_plural = _("activations")
        ordering = ["-id"]
        permissions = [
            ("revoke_activation", _("Can revoke activations")),
            ("rehost_activation", _("Can rehost activations to a replacement device (RMA)")),
        ]
        constraints = [
            # A revoked activation frees its seat: the same serial may be activated again.
            models.UniqueConstraint(
                fields=["entitlement", "serial_number"],
                condition=Q(revoked_at__isnull=True),
                name="activation_one_live_per_serial",
            ),
        ]
        indexes = [
            # The revocation list reads the revoked activations, a few among many.
            models.Index(
                fields=["revoked_at"],
                condition=Q(revoked_at__isnull=False),
                name="activation_revoked_idx",
            ),
        ]

    def __str__(self):
        return f"{self.entitlement.ssrn} @ {self.serial_number}"


class SupersededLicenseKey(models.Model):
    """A license key an activation had before a newer one replaced it (a renewal re-issues
    the keys with the new dates; a device's refresh replaces its key, with no renewal).
    Kept, not deleted: the history shows which key a device may still hold, verification
    tells an outdated key from a forged one, and a revoked activation's keys, these too, are
    in the revocation list."""

    activation = models.ForeignKey(
        Activation,
        verbose_name=_("activation"),
        on_delete=models.CASCADE,
        related_name="superseded_keys",
    )
    license_key = models.TextField(_("license key"))
    superseded_at = models.DateTimeField(_("replaced at"))
    renewal = models.ForeignKey(
        "Term",
        verbose_name=_("replaced for the renewal"),
        on_delete=models.PROTECT,
        related_name="superseded_keys",
        null=True,
        blank=True,
    )

    class Meta:
        verbose_name = _("replaced license key")
        verbose_name_plural = _("replaced license keys")
        ordering = ["activation_id", "-superseded_at", "-id"]

    def __str__(self):
        return f"{self.activation} (replaced {self.superseded_at:%Y-%m-%d})"


class CertificateStatus(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RENDERING = "rendering", _("Rendering")
    READY = "ready", _("Ready")
    FAILED = "failed", _("Failed")


def certificate_path(certificate, filename):
    return f"certificates/{certificate.entitlement.ssrn}/v{certificate.version}.pdf"


class Certificate(QueuedWork):
    """A Software Entitlement Certificate: a PDF rendered from the entitlement, versioned so
    that a reissue never overwrites what a customer already received."""

    entitlement = models.ForeignKey(
        Entitlement,
        verbose_name=_("entitlement"),
        on_delete=models.CASCADE,
        related_name="certificates",
    )
    version = models.PositiveSmallIntegerField(_("version"), default=1)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=CertificateStatus.choices,
        default=CertificateStatus.QUEUED,
    )
    language = models.CharField(_("language"), max_length=8, default="en")
    reason = models.CharField(_("reason"), max_length=200, blank=True)
    # A renewal's certificate goes to the renewal order's addresses, which may never have
    # received the activation code: it says the code is unchanged instead of printing it.
    shows_activation_code = models.BooleanField(
        _("shows the activation code"),
        default=True,
        help_text=_("A renewal's certificate does not print the activation code."),
    )
    file = models.FileField(_("PDF"), upload_to=certificate_path, blank=True)
    sha256 = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    rendered_at = models.DateTimeField(_("rendered at"), null=True, blank=True)

    class Meta:
        verbose_name = _("certificate")
        verbose_name_plural = _("certificates")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["entitlement", "version"], name="certificate_version_unique"
            ),
            models.CheckConstraint(
                condition=Q(status__in=CertificateStatus.values), name="certificate_status_valid"
            ),
            models.CheckConstraint(
                condition=~Q(status="ready") | Q(rendered_at__isnull=False),
                name="certificate_ready_has_time",
            ),
        ]
        indexes = [
            models.Index(
                fields=["next_attempt_at"],
                condition=Q(status__in=["queued", "rendering"]),
                name="certificate_work_idx",
            ),
            # The dashboard and /metrics count what waits, retries and failed, and find the
            # oldest, without reading the million ready certificates.
            models.Index(
                fields=["status", "attempts", "created_at"],
                condition=Q(status__in=["queued", "rendering", "failed"]),
                name="certificate_queue_idx",
            ),
        ]

    def __str__(self):
        return f"{self.entitlement.ssrn} v{self.version}"

    @property
    def filename(self) -> str:
        return f"Keyship-Entitlement-Certificate-{self.entitlement.ssrn}.pdf"


class TermKind(models.TextChoices):
    INITIAL = "initial", _("Initial term")
    RENEWAL = "renewal", _("Renewal")


class Term(models.Model):
    """One paid term of a subscription, in order: the timeline of an entitlement."""

    entitlement = models.ForeignKey(
        Entitlement, verbose_name=_("entitlement"), on_delete=models.CASCADE, related_name="terms"
    )
    sequence = models.PositiveSmallIntegerField(_("term"), help_text=_("1 for the initial term."))
    kind = models.CharField(_("kind"), max_length=16, choices=TermKind.choices)
    order_line = models.ForeignKey(
        OrderLine,
        verbose_name=_("bought by"),
        on_delete=models.PROTECT,
        related_name="terms",
        related_query_name="term",
    )
    # A split entitlement's copy of its source's term: the same line bought both.
    copied_from = models.ForeignKey(
        "self",
        verbose_name=_("copied from"),
        on_delete=models.PROTECT,
        related_name="copies",
        null=True,
        blank=True,
    )
    starts_on = models.DateField(_("start"))
    ends_on = models.DateField(_("end"))
    grace_ends_on = models.DateField(_("grace end"), null=True, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)

    class Meta:
        verbose_name = _("term")
        verbose_name_plural = _("terms")
        ordering = ["entitlement_id", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["entitlement", "sequence"], name="term_sequence_unique"
            ),
            # A renewal line renews once; a split's copies of its terms share their lines.
            models.UniqueConstraint(
                fields=["order_line"],
                condition=Q(copied_from__isnull=True),
                name="term_one_per_line",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gte=F("starts_on")), name="term_dates_in_order"
            ),
            # Only an initial subscription has a grace period.
            models.CheckConstraint(
                condition=Q(kind="initial") | Q(grace_ends_on__isnull=True),
                name="term_grace_initial_only",
            ),
        ]

    def __str__(self):
        return f"{self.entitlement.ssrn} #{self.sequence} {self.starts_on}..{self.ends_on}"


class ChangeKind(models.TextChoices):
    CREATED = "created", _("Created")
    ACTIVATED = "activated", _("Activated on devices")
    ACTIVATION_REVOKED = "activation_revoked", _("Activation revoked")
    RENEWED = "renewed", _("Renewed")
    STATUS_CHANGED = "status_changed", _("Status changed by the calendar")
    CERTIFICATE_REISSUED = "certificate_reissued", _("Certificate reissued")
    PAPER_DELIVERY_RECORDED = "paper_delivery_recorded", _("Paper delivery recorded")
    SUSPENDED = "suspended", _("Suspended")
    REINSTATED = "reinstated", _("Reinstated")
    REVOKED = "revoked", _("Revoked")
    REHOSTED = "rehosted", _("Activation moved to a replacement device")
    TRANSFERRED = "transferred", _("Transferred to other accounts")
    SPLIT = "split", _("Split: seats moved to a new entitlement")


class EntitlementChange(models.Model):
    """One change of an entitlement, as the ERP reads it from the change feed.

    Rows are only ever added, in the transaction of the change, without a `position`; the
    feed gives each committed row its position just before it reads (see
    apps/entitlements/changes.py), so positions follow the order of commits.
    """

    id = models.BigAutoField(primary_key=True)
    entitlement = models.ForeignKey(
        Entitlement,
        verbose_name=_("entitlement"),
        on_delete=models.CASCADE,
        related_name="changes",
    )
    kind = models.CharField(_("kind"), max_length=32, choices=ChangeKind.choices)
    status = models.CharField(
        _("status after"),
        max_length=16,
        choices=EntitlementStatus.choices,
        help_text=_("The entitlement's status right after the change."),
    )
    effective_on = models.DateField(
        _("effective on"), help_text=_("The business day the change took effect.")
    )
    # What changed: serial numbers, term dates, a certificate version. Never a code or a key.
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    position = models.BigIntegerField(
        _("position in the feed"), null=True, blank=True, unique=True, editable=False
    )

    class Meta:
        verbose_name = _("entitlement change")
        verbose_name_plural = _("entitlement changes")
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(kind__in=ChangeKind.values), name="entitlement_change_kind_valid"
            ),
        ]
        indexes = [
            # The rows that wait for their position: few, and found at once.
            models.Index(
                fields=["id"],
                condition=Q(position__isnull=True),
                name="entitlement_change_unplaced",
            ),
        ]

    def __str__(self):
        return f"{self.entitlement_id} {self.kind} {self.effective_on}"


class RehostRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")


class RehostRequest(TimeStampedModel):
    """A portal user asks to move an activation from a failed device to its replacement
    (an RMA); Customer Care approves (which rehosts, rehosts.py) or denies."""

    activation = models.ForeignKey(
        Activation,
        verbose_name=_("activation"),
        on_delete=models.PROTECT,
        related_name="rehost_requests",
    )
    new_serial_number = models.CharField(_("replacement serial number"), max_length=64)
    reason = models.CharField(_("reason"), max_length=500)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="rehost_requests",
    )
    # The requester's language when asking: the decision is written in it.
    language = models.CharField(_("language"), max_length=8, default="en")
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=RehostRequestStatus.choices,
        default=RehostRequestStatus.PENDING,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    decision_note = models.CharField(_("note to the requester"), max_length=500, blank=True)
    # The activation an approval started on the replacement.
    new_activation = models.OneToOneField(
        Activation,
        verbose_name=_("new activation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="rehost_request",
    )

    class Meta:
        verbose_name = _("rehost request")
        verbose_name_plural = _("rehost requests")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status__in=RehostRequestStatus.values),
                name="rehost_request_status_valid",
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False),
                name="rehost_request_decided_has_time",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(new_activation__isnull=False),
                name="rehost_request_approved_has_activation",
            ),
            # One open request per activation: asking twice does not queue twice.
            models.UniqueConstraint(
                fields=["activation"],
                condition=Q(status="pending"),
                name="rehost_request_one_pending",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=Q(status="pending"),
                name="rehost_request_pending_idx",
            ),
        ]

    def __str__(self):
        return f"{self.activation.serial_number} -> {self.new_serial_number}"
