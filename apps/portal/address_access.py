"""An order address asks for access to an account of its entitlements.

An access request belongs to a contact (Customer Care approves it by associating that
contact with the account), so the address's first request gives it a login (without a
password) and a contact, with a Contact ID of Keyship's own ("ADDR-..."). Customer Care's
queue shows it like any other request. From then on the address is a contact's login: it
signs in with a password that it sets through "Forgot your password", and a sign-in link
is no longer sent to it (the page and the email say so).
"""

import secrets

from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils.translation import gettext as _

from apps.accounts.models import AccessRequest, Account, Contact, User
from apps.accounts.services import access_request_create, contact_save
from apps.core.contracts import Rejected
from apps.portal.order_addresses import accounts_of_order_address, address_normalised

CONTACT_ID_PREFIX = "ADDR-"


@transaction.atomic
def order_address_access_request(
    *, email: str, account: Account, reason: str, language: str, actor
) -> tuple[AccessRequest, bool]:
    """File an access request for `email` to one of the accounts its entitlements name, and
    say whether a login and contact were made for it. One transaction; the contact's
    creation and the request are audited (by contact_save and access_request_create)."""
    email = address_normalised(email)
    if not accounts_of_order_address(email=email).filter(pk=account.pk).exists():
        raise Rejected([_("Choose one of the accounts of your entitlements.")])
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    if created:
        try:
            with transaction.atomic():
                contact = contact_save(
                    contact_id=CONTACT_ID_PREFIX + secrets.token_hex(6).upper(),
                    email=email,
                    name="",
                    language=language,
                    actor=actor,
                )
        except IntegrityError:
            # The address's first request from another tab or click made its login a moment
            # ago (the unique index waited for it): this request is filed for that one.
            user, created = User.objects.get(email__iexact=email), False
    if not created:
        contact = Contact.objects.filter(user=user).first()
        if contact is None or not user.is_active or user.is_staff or user.is_superuser:
            raise Rejected(
                [_("This address has a login: sign in with its password to ask for access.")]
            )
    access_request = access_request_create(
        contact=contact, account_id=account.account_id, reason=reason, actor=actor
    )
    return access_request, created


def order_address_requests(*, email: str) -> QuerySet[AccessRequest]:
    """The access requests of the contact whose login is `email` (none before the first)."""
    return AccessRequest.objects.filter(
        contact__user__email__iexact=address_normalised(email)
    ).order_by("-id")[:50]
