from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, PermissionsMixin, UserManager
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from simple_history.models import HistoricalRecords

from apps.core.models import TimeStampedModel

account_id_validator = RegexValidator(r"^\d{4,20}$", _("An Account ID is 4 to 20 digits."))


class KeyshipUserManager(UserManager):
    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("A user needs an email address.")
        user = self.model(email=self.normalize_email(email), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)

    def get_by_natural_key(self, email):
        return self.get(email__iexact=email)


class User(AbstractBaseUser, PermissionsMixin):
    """A login: Customer Care and Operations staff, and the end users behind contacts."""

    email = models.EmailField(_("email address"), unique=True)
    name = models.CharField(_("name"), max_length=200, blank=True)
    is_staff = models.BooleanField(
        _("staff status"), default=False, help_text=_("Can log in to the admin.")
    )
    is_active = models.BooleanField(_("active"), default=True)
    date_joined = models.DateTimeField(_("date joined"), default=timezone.now)

    objects = KeyshipUserManager()

    USERNAME_FIELD = "email"
    EMAIL_FIELD = "email"
    REQUIRED_FIELDS = ["name"]

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        constraints = [
            models.UniqueConstraint(Lower("email"), name="user_email_ci_unique"),
        ]

    def __str__(self):
        return self.email

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email)


class Account(TimeStampedModel):
    """A customer or partner organisation, known by its Account ID."""

    class Kind(models.TextChoices):
        CUSTOMER = "customer", _("Customer")
        PARTNER = "partner", _("Partner")
        DISTRIBUTOR = "distributor", _("Distributor")

    account_id = models.CharField(
        _("Account ID"), max_length=20, unique=True, validators=[account_id_validator]
    )
    name = models.CharField(_("name"), max_length=200)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.CUSTOMER)

    class Meta:
        verbose_name = _("account")
        verbose_name_plural = _("accounts")
        ordering = ["account_id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(kind__in=["customer", "partner", "distributor"]),
                name="account_kind_valid",
            ),
        ]

    def __str__(self):
        return f"{self.account_id} {self.name}"


class Contact(TimeStampedModel):
    """A person with a portal login, known by a Contact ID.

    Email and name live on the login (`user`), so a contact signs in with its own address.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login"),
        on_delete=models.PROTECT,
        related_name="contact",
    )
    contact_id = models.CharField(_("Contact ID"), max_length=32, unique=True)
    language = models.CharField(
        _("preferred language"), max_length=8, choices=settings.LANGUAGES, default="en"
    )
    accounts = models.ManyToManyField(
        Account, through="AccountAssociation", related_name="contacts", verbose_name=_("accounts")
    )

    class Meta:
        verbose_name = _("contact")
        verbose_name_plural = _("contacts")
        ordering = ["contact_id"]
        # Find matches a Contact ID typed in any case (see core.search_terms).
        indexes = [models.Index(Lower("contact_id"), name="contact_id_lower_idx")]

    def __str__(self):
        return f"{self.contact_id} {self.user.email}"

    @property
    def email(self) -> str:
        return self.user.email

    @property
    def name(self) -> str:
        return self.user.name


def _history_user(request):
    """Who made a change through a request: a login; an API client is no login (the audit
    events record which client it was)."""
    user = getattr(request, "user", None)
    return user if isinstance(user, User) and user.is_authenticated else None


class AccountAssociation(models.Model):
    """Contact <-> account: the only thing that decides what a contact sees."""

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="associations"
    )
    account = models.ForeignKey(
        Account, verbose_name=_("account"), on_delete=models.CASCADE, related_name="associations"
    )
    created_at = models.DateTimeField(_("associated since"), auto_now_add=True)
    note = models.CharField(_("note"), max_length=200, blank=True)
    # Set by Customer Care only; the portal never writes it.
    is_admin = models.BooleanField(
        _("customer admin"),
        default=False,
        help_text=_(
            "Approves or denies access requests for this account in the portal, and sees "
            "its contacts."
        ),
    )
    history = HistoricalRecords(
        verbose_name=_("association change"),
        verbose_name_plural=_("association changes"),
        get_user=lambda request=None, **kwargs: _history_user(request),
    )

    class Meta:
        verbose_name = _("account association")
        verbose_name_plural = _("account associations")
        ordering = ["contact_id", "account_id"]
        constraints = [
            models.UniqueConstraint(fields=["contact", "account"], name="association_unique_pair"),
        ]

    def __str__(self):
        return f"{self.contact.contact_id} -> {self.account.account_id}"


class AccessRequestStatus(models.TextChoices):
    PENDING = "pending", _("Pending")
    APPROVED = "approved", _("Approved")
    DENIED = "denied", _("Denied")


class AccessRequest(TimeStampedModel):
    """A contact asks to see an account's entitlements; Customer Care, or a customer admin
    of the account in the portal, approves or denies. Customer Care can overrule."""

    contact = models.ForeignKey(
        Contact, verbose_name=_("contact"), on_delete=models.CASCADE, related_name="access_requests"
    )
    # The Account ID as the contact typed it (well formed). A request for an ID that names no
    # account is kept too, with no account: the portal answers the same either way, so that
    # it does not tell which Account IDs exist, and Customer Care sees (and denies) it.
    requested_account_id = models.CharField(_("Account ID asked for"), max_length=20)
    account = models.ForeignKey(
        Account,
        verbose_name=_("account"),
        on_delete=models.CASCADE,
        related_name="access_requests",
        null=True,
        blank=True,
    )
    reason = models.TextField(_("reason"), max_length=1000)
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=AccessRequestStatus.choices,
        default=AccessRequestStatus.PENDING,
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
    # True when decided_by decided in the portal as a customer admin of the account.
    decided_by_customer_admin = models.BooleanField(
        _("decided by a customer admin"), default=False
    )
    decision_note = models.CharField(_("note to the contact"), max_length=500, blank=True)

    class Meta:
        verbose_name = _("access request")
        verbose_name_plural = _("access requests")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=["pending", "approved", "denied"]),
                name="access_request_status_valid",
            ),
            models.CheckConstraint(
                condition=models.Q(status="pending") | models.Q(decided_at__isnull=False),
                name="access_request_decided_has_time",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="pending", decided_by_customer_admin=True),
                name="access_request_pending_undecided",
            ),
            # One open request per contact and account: asking twice does not queue twice.
            models.UniqueConstraint(
                fields=["contact", "requested_account_id"],
                condition=models.Q(status="pending"),
                name="access_request_one_pending",
            ),
        ]
        indexes = [
            models.Index(
                fields=["created_at"],
                condition=models.Q(status="pending"),
                name="access_request_pending_idx",
            ),
        ]

    def __str__(self):
        return f"{self.contact.contact_id} -> {self.requested_account_id} ({self.status})"
