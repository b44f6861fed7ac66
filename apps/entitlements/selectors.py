from django.db.models import QuerySet

from apps.core import sealing
from apps.core.codes import CodeKind, parse_code
from apps.entitlements.models import Entitlement


def entitlement_by_activation_code(*, text: str) -> QuerySet[Entitlement]:
    """Entitlements whose activation code is `text` as typed (at most one); empty when
    the text is not a well-formed activation code."""
    parsed = parse_code(text)
    if parsed.kind != CodeKind.ACTIVATION_CODE or parsed.mistyped:
        return Entitlement.objects.none()
    return Entitlement.objects.filter(activation_code_digest=sealing.code_digest(parsed.value))


def entitlement_by_ssrn(*, text: str) -> QuerySet[Entitlement]:
    """Entitlements with the SSRN `text` as typed (normalised); at most one."""
    parsed = parse_code(text)
    value = parsed.value if parsed.kind == CodeKind.SSRN else text.strip().upper()
    return Entitlement.objects.filter(ssrn=value)


def entitlement_ids_for_term(*, term: str, limit: int = 1000) -> set[int]:
    """Entitlements that a typed key names: SSRN, activation code, order number, device
    serial number or Account ID.

    Each key is looked up alone, on its own index, and the ids are united: one query that
    ORs these joins makes PostgreSQL scan every entitlement.
    """
    term = term.strip()
    if not term:
        return set()
    queries = [
        entitlement_by_ssrn(text=term),
        entitlement_by_activation_code(text=term),
        Entitlement.objects.filter(order_line__order__order_number=term),
        Entitlement.objects.filter(activations__serial_number=term),
        Entitlement.objects.filter(entitlement_accounts__account__account_id=term),
    ]
    ids: set[int] = set()
    for query in queries:
        ids.update(query.values_list("pk", flat=True)[:limit])
    return ids


def renewal_problem(*, ssrn: str, product) -> str | None:
    """Why a line of `product` cannot renew the entitlement `ssrn`, or None if it can."""
    entitlement = entitlement_by_ssrn(text=ssrn).select_related("product").first()
    if entitlement is None:
        return f'no entitlement has the SSRN "{ssrn}"'
    if entitlement.revoked_at:
        return f'the entitlement "{entitlement.ssrn}" is revoked'
    if entitlement.product_id != product.renews_id:
        return f'"{product.sku}" does not renew "{entitlement.product.sku}" ({entitlement.ssrn})'
    return None
