from dataclasses import dataclass, field

from django.db.models import Q

from apps.accounts.models import Contact
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
    """Entitlements, orders and contacts that `query` names exactly.

    It matches an SSRN, an activation code (by its digest), an order number, a device
    serial number, an Account ID or an email address. Each kind is shown only to a
    user who may view it.
    """
    term = query.strip()
    results = SearchResults()
    entitlement_ids = entitlement_ids_for_term(term=term, limit=LIMIT)
    if user.has_perm("entitlements.view_entitlement"):
        results.entitlements = list(
            Entitlement.objects.filter(pk__in=entitlement_ids)
            .select_related("product", "order_line__order")
            .order_by("-id")[:LIMIT]
        )
    if user.has_perm("orders.view_salesorder"):
        order_ids = _ids(
            LIMIT,
            SalesOrder.objects.filter(order_number=term),
            SalesOrder.objects.filter(order_accounts__account__account_id=term),
            SalesOrder.objects.filter(emails__email__lower=term.lower()),
            SalesOrder.objects.filter(lines__entitlement__in=entitlement_ids),
        )
        results.orders = list(SalesOrder.objects.filter(pk__in=order_ids).order_by("-id")[:LIMIT])
    if user.has_perm("accounts.view_contact"):
        contact_ids = _ids(
            LIMIT,
            Contact.objects.filter(contact_id=term),
            Contact.objects.filter(user__email__lower=term.lower()),
            Contact.objects.filter(associations__account__account_id=term),
        )
        results.contacts = list(
            Contact.objects.filter(pk__in=contact_ids).select_related("user").order_by("contact_id")
        )
    return results


def _ids(limit: int, *queries) -> set[int]:
    # Each key on its own index, then the union (see entitlement_ids_for_term).
    ids: set[int] = set()
    for query in queries:
        ids.update(query.values_list("pk", flat=True)[:limit])
    return ids


def contact_by_key(*, key: str) -> Contact | None:
    """The contact with this Contact ID or login email address."""
    return (
        Contact.objects.select_related("user")
        .filter(Q(contact_id=key) | Q(user__email__iexact=key))
        .first()
    )
