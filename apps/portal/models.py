from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class SignInLink(models.Model):
    """A link that signs an order address in once (see apps/portal/sign_in_links.py).

    The token itself is only in the email: the row keeps its keyed hash, so neither a copy
    of the database nor the admin can sign anyone in. A link ends when it is used, when it
    expires, or when a newer link for the same address replaces it.
    """

    email = models.EmailField(_("email address"))  # lower case: addresses compare so
    token_digest = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(_("asked for at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"))
    used_at = models.DateTimeField(_("used at"), null=True, blank=True)
    replaced_at = models.DateTimeField(_("replaced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("sign-in link")
        verbose_name_plural = _("sign-in links")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(email=models.functions.Lower("email")),
                name="sign_in_link_email_lower",
            ),
            models.CheckConstraint(
                condition=Q(used_at__isnull=True) | Q(replaced_at__isnull=True),
                name="sign_in_link_used_or_replaced",
            ),
        ]
        indexes = [
            models.Index(
                fields=["email"],
                condition=Q(used_at__isnull=True, replaced_at__isnull=True),
                name="sign_in_link_open_idx",
            ),
        ]

    def __str__(self):
        return f"{self.email} ({self.created_at:%Y-%m-%d %H:%M})"
