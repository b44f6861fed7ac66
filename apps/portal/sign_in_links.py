"""Sign-in links for order addresses: asked for by address, used once, for a short while.

Every address on a sales order receives the Fulfillment Email; only contacts have logins.
Any other address of an order may ask for a link by email. The page answers the same for
every address (on an order or not, a login or not), so it tells nobody which addresses
Keyship knows; only the emails differ. An address that is a login gets a note on how to
sign in with its password instead of a link: a link must not become a way around the
password (or into a staff login).

The token is 256 random bits from the operating system's CSPRNG. It travels in the link's
fragment (after `#`), which browsers never send: no server, proxy or access log sees it.
The landing page posts it; its GET consumes nothing, so a mail scanner that opens the link
uses nothing up. Only its keyed hash is stored (apps.core.sealing.sign_in_token_digest),
and the email that holds it is sealed in the outbox.
"""

import datetime
import secrets
from enum import StrEnum

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.core import metrics
from apps.core.sealing import sign_in_token_digest
from apps.core.services import audit_event_record
from apps.orders.models import OrderEmail
from apps.outbox.kinds import sealed_email
from apps.outbox.models import DeliveryKind, topic
from apps.outbox.services import delivery_queue
from apps.portal.models import SignInLink
from apps.portal.order_addresses import address_normalised
from apps.portal.rate_limits import email_requests_limited

# What a SIGN_IN_LINK delivery carries (its payload's "message"): a link, or the note that
# the address has a login.
LINK = "link"
LOGIN_NOTE = "login_note"
# The longest text the landing page takes: a whole pasted link, not only its token.
TOKEN_MAX_LENGTH = 2000


class Outcome(StrEnum):
    SENT = "sent"
    LOGIN_NOTE = "login_note"
    NOTHING = "nothing"


def _order_language(email: str) -> str:
    """The language of the address's latest order: the one its Fulfillment Emails came in."""
    row = (
        OrderEmail.objects.filter(email__lower=email)
        .order_by("-order__created_at", "-order_id")
        .values_list("order__language", flat=True)
        .first()
    )
    return row or settings.LANGUAGE_CODE


@transaction.atomic
def sign_in_link_request(*, email: str, actor) -> Outcome:
    """Send `email` a sign-in link if it is an address of a sales order and no login's.

    One transaction: the older unused links of the address end (replaced), the new link's
    hash and its (sealed) email are written, and the email leaves once it commits; audited.
    A login's address (not staff, active) gets the note on signing in with a password
    instead; any other address gets nothing, and nothing is written for it.
    """
    email = address_normalised(email)
    if not OrderEmail.objects.filter(email__lower=email).exists():
        return Outcome.NOTHING
    language = _order_language(email)
    user = User.objects.filter(email__iexact=email).first()
    if user is not None:
        if not user.is_active or user.is_staff or user.is_superuser:
            return Outcome.NOTHING
        with translation.override(language):
            content = sealed_email(
                subject=_("Keyship: how to sign in"),
                text=render_to_string(
                    "emails/sign_in_login_note.txt",
                    {"reset_url": settings.SITE_URL + reverse("password_reset")},
                ),
            )
        delivery_queue(
            kind=DeliveryKind.SIGN_IN_LINK,
            topic=topic("sign_in_note", secrets.token_hex(8)),
            about=email,
            recipient=email,
            language=language,
            payload={"message": LOGIN_NOTE},
            content=content,
        )
        audit_event_record(
            actor=actor,
            action="sign_in_link.login_note_sent",
            target=user,
            message=f"{email} asked for a sign-in link; it has a login, so it was told to "
            "sign in with its password",
        )
        return Outcome.LOGIN_NOTE
    now = timezone.now()
    SignInLink.objects.filter(email=email, used_at__isnull=True, replaced_at__isnull=True).update(
        replaced_at=now
    )
    token = secrets.token_urlsafe(32)
    link = SignInLink.objects.create(
        email=email,
        token_digest=sign_in_token_digest(token),
        expires_at=now + datetime.timedelta(minutes=settings.SIGN_IN_LINK_MINUTES),
    )
    with translation.override(language):
        content = sealed_email(
            subject=_("Keyship: your sign-in link"),
            text=render_to_string(
                "emails/sign_in_link.txt",
                {
                    "link": f"{settings.SITE_URL}{reverse('portal:sign-in-link')}#{token}",
                    "minutes": settings.SIGN_IN_LINK_MINUTES,
                },
            ),
        )
    delivery_queue(
        kind=DeliveryKind.SIGN_IN_LINK,
        topic=topic("sign_in_link", link.pk),
        about=email,
        recipient=email,
        language=language,
        payload={"message": LINK},
        content=content,
    )
    audit_event_record(
        actor=actor,
        action="sign_in_link.sent",
        target=link,
        message=f"sign-in link for {email}",
        data={"email": email, "expires_at": link.expires_at.isoformat()},
    )
    return Outcome.SENT


def token_from_text(text: str) -> str:
    """The token of a pasted link (the part after `#`) or of a token typed alone."""
    return text.strip().rsplit("#", 1)[-1].strip()


@transaction.atomic
def sign_in_link_use(*, token: str, actor) -> str | None:
    """The address a live link was for, once: the link is used up in the same transaction
    (its row locked, so two posts of one link at once sign in once). None for a token no
    link has, or a link used, replaced or expired; nothing is written then."""
    if not token or len(token) > TOKEN_MAX_LENGTH:
        return None
    now = timezone.now()
    link = (
        SignInLink.objects.select_for_update()
        .filter(
            token_digest=sign_in_token_digest(token),
            used_at__isnull=True,
            replaced_at__isnull=True,
            expires_at__gt=now,
        )
        .first()
    )
    if link is None:
        return None
    link.used_at = now
    link.save(update_fields=["used_at"])
    audit_event_record(
        actor=actor,
        action="sign_in_link.used",
        target=link,
        message=f"{link.email} signed in with a sign-in link",
        data={"email": link.email},
    )
    return link.email


# --- Rate limits --------------------------------------------------------------------------


def link_requests_limited(request) -> bool:
    """Whether this request is past either limit; every request is counted against both."""
    return email_requests_limited(
        request,
        group="sign-in-link",
        # The spelling the link is for (lower case), so that no spelling gets its own count.
        address=lambda request: address_normalised(request.POST.get("email", "")),
        per_address=settings.SIGN_IN_LINK_RATE,
        per_client=settings.SIGN_IN_LINK_CLIENT_RATE,
        limit=metrics.LIMIT_SIGN_IN_LINK,
    )
