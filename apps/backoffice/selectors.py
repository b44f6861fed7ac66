from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from apps.accounts.models import Contact
from apps.core.search_terms import search_term_parse
from apps.core.text import has_control_characters
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import entitlement_ids_for_term
from apps.orders.models import SalesOrder

# A search box answers a person: more than this many hits of one kind means "be more precise".
LIMIT = 50


@dataclass
class SearchResults:
    entitlements: list = field(default_factory=list)
    orders: list = field(default_factory=list)
    contacts: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.entitlements or self.orders or self.contacts)


def record_search(*, query: str, user) -> SearchResults:
    """Entitlements, orders and contacts that `query` names exactly, however it is typed.

    It matches an SSRN, an activation code (by its digest), an order number, a device
    serial number (activated, or bound to a legacy LMS key), an Account ID, a Contact ID or
    an email address, each normalised as search_term_parse reads it. An email address finds
    the contact who signs in with it, the orders sent to it, and the entitlements of both:
    those of the orders sent to it (new, or renewed by them) and those of the accounts that
    contact is associated with. Each kind is shown only to a user who may view it, and an
    activation code finds something only for a user who may see codes. Each key
    is one query on its own index, whatever the number of rows.
    """
    typed = search_term_parse(query)
    results = SearchResults()
    if not typed.text:
        return results
    entitlement_ids = entitlement_ids_for_term(
        term=typed.text,
        limit=LIMIT,
        by_activation_code=user.has_perm("entitlements.view_activation_code"),
    )
    if typed.email:
        entitlement_ids |= _ids(
            LIMIT,
            Entitlement.objects.filter(order_line__order__emails__email__lower=typed.email),
            Entitlement.objects.filter(terms__order_line__order__emails__email__lower=typed.email),
            Entitlement.objects.filter(
                entitlement_accounts__account__associations__contact__user__email__lower=(
                    typed.email
                )
            ),
        )
    if user.has_perm("entitlements.view_entitlement"):
        results.entitlements = list(
            Entitlement.objects.filter(pk__in=entitlement_ids)
            .select_related("product", "order_line__order")
            .order_by("-id")[:LIMIT]
        )
    if user.has_perm("orders.view_salesorder"):
        order_ids = _ids(
            LIMIT,
            typed.order_number
            and SalesOrder.objects.filter(order_number__lower=typed.order_number),
            typed.account_id
            and SalesOrder.objects.filter(order_accounts__account__account_id=typed.account_id),
            typed.email and SalesOrder.objects.filter(emails__email__lower=typed.email),
            entitlement_ids and SalesOrder.objects.filter(lines__entitlement__in=entitlement_ids),
        )
        results.orders = list(SalesOrder.objects.filter(pk__in=order_ids).order_by("-id")[:LIMIT])
    if user.has_perm("accounts.view_contact"):
        contact_ids = _ids(
            LIMIT,
            typed.contact_id and Contact.objects.filter(contact_id__lower=typed.contact_id),
            typed.email and Contact.objects.filter(user__email__lower=typed.email),
            typed.account_id
            and Contact.objects.filter(associations__account__account_id=typed.account_id),
        )
        results.contacts = list(
            Contact.objects.filter(pk__in=contact_ids).select_related("user").order_by("contact_id")
        )
    return results


def _ids(limit: int, *queries) -> set[int]:
    # Each key on its own index, then the union (see entitlement_ids_for_term); a key the
    # term cannot be is given as a false value and costs no query.
    ids: set[int] = set()
    for query in queries:
        if not isinstance(query, QuerySet):
            continue
        ids.update(query.values_list("pk", flat=True)[:limit])
    return ids


def contact_by_key(*, key: str) -> Contact | None:
    """The contact with this Contact ID or login email address; None for a key with a
    control character, which neither holds (and PostgreSQL refuses a NUL)."""
    if has_control_characters(key):
        return None
    return (
        Contact.objects.select_related("user")
        .filter(Q(contact_id=key) | Q(user__email__iexact=key))
        .first()
    )
