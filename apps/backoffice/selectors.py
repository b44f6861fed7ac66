from dataclasses import dataclass, field

from django.db.models import Q

from apps.accounts.models import Contact
from apps.entitlements.models import Entitlement
from apps.entitlements.selectors import entitlement_by_activation_code, entitlement_by_ssrn
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
    matches = (
        entitlement_by_ssrn(text=term)
        | entitlement_by_activation_code(text=term)
        | Entitlement.objects.filter(
            Q(order_line__order__order_number__iexact=term)
            | Q(activations__serial_number=term)
            | Q(accounts__account_id=term)
        )
    )
    if user.has_perm("entitlements.view_entitlement"):
        results.entitlements = list(
            Entitlement.objects.filter(pk__in=matches.values("pk"))
            .select_related("product", "order_line__order")
            .order_by("-created_at")[:LIMIT]
        )
    if user.has_perm("orders.view_salesorder"):
        orders = SalesOrder.objects.filter(
            Q(order_number__iexact=term)
            | Q(order_accounts__account__account_id=term)
            | Q(emails__email__iexact=term)
            | Q(lines__entitlement__in=matches.values("pk"))
        )
        results.orders = list(
            SalesOrder.objects.filter(pk__in=orders.values("pk")).order_by("-created_at")[:LIMIT]
        )
    if user.has_perm("accounts.view_contact"):
        contacts = Contact.objects.filter(
            Q(contact_id__iexact=term) | Q(user__email__iexact=term) | Q(accounts__account_id=term)
        )
        results.contacts = list(
            Contact.objects.filter(pk__in=contacts.values("pk")).select_related("user")[:LIMIT]
        )
    return results
