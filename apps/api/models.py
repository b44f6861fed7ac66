import hashlib

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.actors import ActorKind


class Scope(models.TextChoices):
    """What an integration client may do; each endpoint names the scope it needs."""

    ORDERS_WRITE = "orders:write", _("Send and change sales orders")
    ORDERS_READ = "orders:read", _("Read sales orders")
    ENTITLEMENTS_READ = "entitlements:read", _("Read entitlements")
    ACTIVATION_CODES = "entitlements:codes", _("See activation codes")
    CATALOG_WRITE = "catalog:write", _("Send products")
    ACCOUNTS_WRITE = "accounts:write", _("Send accounts and contacts")
    ACCOUNTS_ASSOCIATE = "accounts:associate", _("Associate contacts with accounts")
    ENTITLEMENTS_MANAGE = "entitlements:manage", _("Suspend, reinstate and revoke entitlements")
    WEBHOOKS_MANAGE = "webhooks:manage", _("Register and change webhook endpoints")


def token_digest(token: str) -> str:
    """Tokens are 256 random bits, so a plain SHA-256 is enough to store them safely."""
    return hashlib.sha256(token.encode()).hexdigest()


class ApiClient(models.Model):
    """An integration (the ERP, a test system) with its bearer token, stored hashed."""

    # What it writes is audited with the client as its actor, named by its name.
    audit_actor_kind = ActorKind.API_CLIENT

    name = models.CharField(_("name"), max_length=100, unique=True)
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    token_prefix = models.CharField(
        _("token starts with"), max_length=12, editable=False, help_text=_("To tell tokens apart.")
    )
    scopes = models.JSONField(_("scopes"), default=list, blank=True)
    created_at = models.DateTimeField(_("created"), auto_now_add=True)
    last_used_at = models.DateTimeField(_("last used"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API client")
        verbose_name_plural = _("API clients")
        ordering = ["name"]

    def __str__(self):
        return self.name

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None

    def allows(self, scope: str) -> bool:
        return scope in self.scopes


class IdempotentRequest(models.Model):
    """The answer to a request sent with an Idempotency-Key, to replay when the key comes
    back: the same key with the same body answers the same, with nothing written."""

    client = models.ForeignKey(ApiClient, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=200)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    body_digest = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField()
    response = models.JSONField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["client", "key"], name="idempotency_key_unique"),
            models.CheckConstraint(condition=~Q(key=""), name="idempotency_key_not_empty"),
        ]

    def __str__(self):
        return f"{self.client_id} {self.key}"
