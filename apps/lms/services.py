"""Legacy license keys: importing pools, handing keys out at fulfilment."""

import csv
import io

from django.db import transaction
from django.utils import timezone

from apps.catalog.models import DeliveryMethod, Product
from apps.core.contracts import ImportResult, Rejected
from apps.core.services import audit_event_record
from apps.lms.models import LegacyKey, LegacyKeyState

KEY_METHODS = (DeliveryMethod.HERITAGE_KEY, DeliveryMethod.LEGACY_LMS)


def _rows(text: str, source: str) -> list[dict]:
    reader = csv.DictReader(io.StringIO(text))
    header = [name.strip() for name in reader.fieldnames or []]
    missing = [name for name in ("sku", "license_key") if name not in header]
    if missing:
        absent = ", ".join(missing)
        raise Rejected(
            [f"{source}: line 1: the header needs sku and license_key (missing {absent})"]
        )
    reader.fieldnames = header
    return list(reader)


@transaction.atomic
def legacy_keys_import(*, text: str, source: str = "file", actor=None) -> ImportResult:
    """Add the keys of a CSV file (`sku,license_key`, further columns kept) to their pools.

    All or nothing: an unknown SKU, a SKU that takes no keys, an empty key, a key twice in
    the file or a key already in another SKU's pool is reported with its line, and then the
    file writes nothing. A key already in its SKU's pool is left as it is, so importing the
    same file twice changes nothing. Keys are secrets: reports and logs never show them.
    """
    rows = _rows(text, source)
    products = {
        p.sku: p for p in Product.objects.filter(sku__in={row["sku"].strip() for row in rows})
    }
    stored = dict(
        LegacyKey.objects.filter(
            license_key__in={row["license_key"].strip() for row in rows}
        ).values_list("license_key", "product__sku")
    )
    problems, seen, new = [], {}, []
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        sku, key = (row.get("sku") or "").strip(), (row.get("license_key") or "").strip()
        where = f"{source}: line {number}"
        product = products.get(sku)
        if product is None:
            problems.append(f'{where}: unknown SKU "{sku}"')
        elif product.delivery_method not in KEY_METHODS:
            problems.append(f'{where}: "{sku}" is not delivered with legacy keys')
        if not key:
            problems.append(f"{where}: the license key is empty")
            continue
        if key in seen:
            problems.append(f"{where}: the same key as line {seen[key]}")
            continue
        seen[key] = number
        if key in stored and stored[key] != sku:
            problems.append(f'{where}: the key is already in the pool of "{stored[key]}"')
        elif key not in stored and product is not None:
            extra = {
                k: v for k, v in row.items() if k not in ("sku", "license_key") and k is not None
            }
            new.append(LegacyKey(product=product, license_key=key, extra=extra))
    if problems:
        raise Rejected(problems)
    LegacyKey.objects.bulk_create(new)
    result = ImportResult()
    for sku in sorted({key.product.sku for key in new}):
        count = sum(1 for key in new if key.product.sku == sku)
        result.add(f"pool {sku}", f"{count} key(s) added")
        audit_event_record(
            actor=actor,
            action="legacy_keys.imported",
            target=products[sku],
            message=f"{count} keys",
        )
    unchanged = len(rows) - len(new)
    if unchanged:
        result.add(f"{unchanged} key(s) already in their pools", "unchanged")
    return result


def legacy_keys_reserve(*, product: Product, count: int, taken=()) -> list[LegacyKey]:
    """Lock `count` available keys of the product's pool for this transaction (fewer when the
    pool is short). SKIP LOCKED: two sweeps at once never take the same key; `taken` are the
    keys this transaction reserved already (its own locks are not skipped)."""
    return list(
        LegacyKey.objects.select_for_update(skip_locked=True)
        .filter(product=product, state=LegacyKeyState.AVAILABLE)
        .exclude(pk__in=taken)
        .order_by("id")[:count]
    )


def legacy_keys_assign(*, keys: list[LegacyKey], entitlement) -> None:
    """Hand reserved keys to an entitlement, in the fulfilment transaction."""
    LegacyKey.objects.filter(pk__in=[key.pk for key in keys]).update(
        state=LegacyKeyState.ASSIGNED, entitlement=entitlement, assigned_at=timezone.now()
    )
