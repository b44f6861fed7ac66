import datetime

from django.core.files.base import ContentFile
from django.utils import timezone

from apps.entitlements.models import Certificate, CertificateStatus
from apps.orders.models import AccountRole
from tests.factories.accounts import AccountAssociationFactory, AccountFactory, ContactFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import EntitlementAccountFactory, EntitlementFactory

PDF = b"%PDF-1.7\n% a certificate\n"


def portal_contact(*accounts, email=None):
    """A contact associated with these accounts, whose login's password is `password`."""
    contact = ContactFactory(**({"user__email": email} if email else {}))
    for account in accounts:
        AccountAssociationFactory(contact=contact, account=account)
    return contact


def entitlement_of(*accounts, product=None, quantity=2, certificate=True, **fields):
    """An entitlement shipped to these accounts (the first as end customer, the others as
    partners), with a rendered certificate."""
    product = product or ProductFactory()
    entitlement = EntitlementFactory(
        order_line__product=product, order_line__quantity=quantity, **fields
    )
    for number, account in enumerate(accounts):
        role = AccountRole.END_CUSTOMER if number == 0 else AccountRole.PARTNER
        EntitlementAccountFactory(entitlement=entitlement, account=account, role=role)
    if certificate:
        ready = Certificate(
            entitlement=entitlement,
            status=CertificateStatus.READY,
            rendered_at=timezone.now(),
        )
        ready.file.save("certificate.pdf", ContentFile(PDF), save=False)
        ready.save()
    return entitlement


def subscription_of(*accounts, ends_in_days: int, grace_days: int = 30, product=None, **fields):
    today = datetime.date.today()
    ends = today + datetime.timedelta(days=ends_in_days)
    return entitlement_of(
        *accounts,
        product=product or ProductFactory(subscription=True),
        starts_on=min(today, ends) - datetime.timedelta(days=300),
        term_ends_on=ends,
        grace_ends_on=ends + datetime.timedelta(days=grace_days),
        **fields,
    )


def new_account(**fields):
    return AccountFactory(**fields)


def code_spellings(code: str) -> set[str]:
    """The ways a user may type an activation code, and how an address would carry each,
    in lower case: look for each in a lower-cased text."""
    from urllib.parse import quote, quote_plus

    plain = code.lower()
    typed = {plain, plain.replace("-", ""), plain.replace("-", " ")}
    return typed | {quote(t) for t in typed} | {quote_plus(t) for t in typed}


def searched(client, text: str, **filters) -> str:
    """Search the portal's list as its form does (a POST); the address it sends the user to."""
    from django.urls import reverse

    response = client.post(reverse("portal:entitlements"), {"q": text, **filters})
    assert response.status_code == 302, response.status_code
    return response.url


def customer_admin_of(*accounts, email=None):
    """A contact associated with these accounts and marked their customer admin."""
    from apps.accounts.models import AccountAssociation

    contact = portal_contact(*accounts, email=email)
    AccountAssociation.objects.filter(contact=contact).update(is_admin=True)
    return contact


def pending_request(account, *, contact=None, reason="I run their firewalls."):
    """A pending access request for `account` from `contact` (a new contact by default)."""
    from apps.accounts.models import AccessRequest

    return AccessRequest.objects.create(
        contact=contact or portal_contact(),
        requested_account_id=account.account_id,
        account=account,
        reason=reason,
    )
