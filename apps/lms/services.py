"""Legacy license keys: importing pools, handing keys out at fulfilment."""

import datetime
import logging
import uuid
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.catalog.models import DeliveryMethod, Product
from apps.core.contracts import ImportResult, Rejected
from apps.core.csv_files import csv_dict_rows
from apps.core.dates import business_today
from apps.core.sealing import legacy_key_digest, seal
from apps.core.services import audit_event_record
from apps.entitlements.models import Entitlement, EntitlementStatus
from apps.lms.models import LegacyKey, LegacyKeyState, LegacyKeyUpload, masked

logger = logging.getLogger(__name__)

KEY_METHODS = (DeliveryMethod.HERITAGE_KEY, DeliveryMethod.LEGACY_LMS)
LOOKUP_BATCH = 10_000  # digests per query, to stay far below a query's parameter limits
UPLOAD_LIFETIME = datetime.timedelta(hours=1)


def _rows(text: str, source: str) -> list[dict]:
    header, rows = csv_dict_rows(text, source=source)
    missing = [name for name in ("sku", "license_key") if name not in header]
    if missing:
        absent = ", ".join(missing)
        raise Rejected(
            [f"{source}: line 1: the header needs sku and license_key (missing {absent})"]
        )
    return [row for _line, row in rows]


@dataclass
class KeyRow:
    """One line of a key file as the import sees it; `problem` is empty when it is fine."""

    line: int
    sku: str
    masked_key: str
    outcome: str  # "new", "unchanged" or "error"
    problem: str = ""


@dataclass
class KeysPlan:
    rows: list[KeyRow] = field(default_factory=list)
    # (product, key, further columns) of each new key: sealed only when imported, so that a
    # preview of a million keys does not pay for a million ciphers.
    new: list[tuple[Product, str, dict]] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        return [row.problem for row in self.rows if row.problem]


def legacy_keys_plan(*, text: str, source: str = "file") -> KeysPlan:
    """What importing a CSV file (`sku,license_key`, further columns kept) would do, row by
    row, without writing: the admin's preview, and the import's own check.

    An unknown SKU, a SKU that takes no keys, an empty key, a key twice in the file or a key
    already in another SKU's pool is a problem of its line. A key already in its SKU's pool
    is unchanged. Keys are secrets: rows carry them masked.
    """
    return _keys_plan(_rows(text, source), source)


def _keys_plan(rows: list[dict], source: str) -> KeysPlan:
    products = {
        p.sku: p
        for p in Product.objects.filter(sku__in={(row.get("sku") or "").strip() for row in rows})
    }
    # Stored keys are sealed: they are found by their digests.
    digests = {
        key: legacy_key_digest(key)
        for key in {(row.get("license_key") or "").strip() for row in rows}
    }
    wanted, by_digest = sorted(set(digests.values())), {}
    for start in range(0, len(wanted), LOOKUP_BATCH):
        by_digest.update(
            LegacyKey.objects.filter(
                license_key_digest__in=wanted[start : start + LOOKUP_BATCH]
            ).values_list("license_key_digest", "product__sku")
        )
    stored = {key: by_digest[digest] for key, digest in digests.items() if digest in by_digest}
    plan, seen = KeysPlan(), {}
    for number, row in enumerate(rows, start=2):  # line 1 is the header
        sku, key = (row.get("sku") or "").strip(), (row.get("license_key") or "").strip()
        where = f"{source}: line {number}"
        product = products.get(sku)
        problems = []
        if product is None:
            problems.append(f'{where}: unknown SKU "{sku}"')
        elif product.delivery_method not in KEY_METHODS:
            problems.append(f'{where}: "{sku}" is not delivered with legacy keys')
        if not key:
            problems.append(f"{where}: the license key is empty")
        elif key in seen:
            problems.append(f"{where}: the same key as line {seen[key]}")
        elif key in stored and stored[key] != sku:
            problems.append(f'{where}: the key is already in the pool of "{stored[key]}"')
        seen.setdefault(key, number)
        outcome = "error" if problems else "unchanged" if key in stored else "new"
        plan.rows.append(KeyRow(number, sku, masked(key), outcome, "; ".join(problems)))
        if outcome == "new":
            extra = {
                k: v for k, v in row.items() if k not in ("sku", "license_key") and k is not None
            }
            plan.new.append((product, key, extra))
    return plan


@transaction.atomic
def legacy_keys_import(*, text: str, actor, source: str = "file") -> ImportResult:
    """Add the keys of a CSV file to their pools (see legacy_keys_plan for the checks).

    All or nothing: any problem and the file writes nothing. A key already in its SKU's pool
    is left as it is, so importing the same file twice changes nothing. Reports and logs
    never show a key.
    """
    return _keys_import(legacy_keys_plan(text=text, source=source), actor)


def _keys_import(plan: KeysPlan, actor) -> ImportResult:
    if plan.problems:
        raise Rejected(plan.problems)
    new = [
        LegacyKey(product=product, license_key=key, extra=extra) for product, key, extra in plan.new
    ]
    LegacyKey.objects.bulk_create(new, batch_size=1000)
    result = ImportResult()
    for sku in sorted({key.product.sku for key in new}):
        count = sum(1 for key in new if key.product.sku == sku)
        result.add(f"pool {sku}", f"{count} key(s) added")
        audit_event_record(
            actor=actor,
            action="legacy_keys.imported",
            target=next(key.product for key in new if key.product.sku == sku),
            message=f"{count} keys",
        )
    unchanged = len(plan.rows) - len(new)
    if unchanged:
        result.add(f"{unchanged} key(s) already in their pools", "unchanged")
    return result


@transaction.atomic
def legacy_key_add(*, product: Product, license_key: str, extra: dict, actor) -> LegacyKey:
    """One key typed into the admin, added to its SKU's pool as the import adds a file's
    rows: the same checks (a SKU that takes keys, a key in no pool yet) and audit event."""
    extra = {str(k): str(v) for k, v in (extra or {}).items() if k not in ("sku", "license_key")}
    plan = _keys_plan([{**extra, "sku": product.sku, "license_key": license_key}], "license_key")
    if plan.rows and plan.rows[0].outcome == "unchanged":
        raise Rejected(["license_key: the key is in this pool already"])
    _keys_import(plan, actor)
    return LegacyKey.objects.get(license_key_digest=legacy_key_digest(license_key.strip()))


@transaction.atomic
def legacy_keys_delete(*, key_ids, actor) -> int:
    """Remove keys still in their pools (a wrong key, to be added again as it should read);
    returns how many. A key handed out to an entitlement is the customer's and stays:
    Rejected, and none of the keys is deleted. One transaction, the keys locked; one audit
    event per key, naming its SKU, never the key. Keys already gone are skipped."""
    keys = list(
        LegacyKey.objects.select_for_update()
        .select_related("product")
        .filter(pk__in=key_ids)
        .order_by("pk")
    )
    handed_out = [key for key in keys if key.state != LegacyKeyState.AVAILABLE]
    if handed_out:
        raise Rejected(
            [
                f"legacy key {key.pk} of {key.product.sku} is assigned to an entitlement "
                "and is not deleted"
                for key in handed_out
            ]
        )
    for key in keys:
        audit_event_record(
            actor=actor,
            action="legacy_key.deleted",
            target=key,
            data={"sku": key.product.sku, "state": key.state},
        )
    LegacyKey.objects.filter(pk__in=[key.pk for key in keys]).delete()
    return len(keys)


@transaction.atomic
def legacy_key_upload_keep(*, name: str, text: str, actor) -> LegacyKeyUpload:
    """Keep an uploaded key file on the server, sealed, until its uploader confirms it or it
    expires (UPLOAD_LIFETIME). Uploads already expired are removed on the way."""
    legacy_key_uploads_purge()
    return LegacyKeyUpload.objects.create(
        uploaded_by=actor,
        name=name[:255],
        text_sealed=seal(text),
        expires_at=timezone.now() + UPLOAD_LIFETIME,
    )


@transaction.atomic
def legacy_key_upload_import(*, upload_id, actor) -> ImportResult:
    """Import a kept upload, for the user who uploaded it and before it expires, then remove
    it. All or nothing, through legacy_keys_import's checks: a file that has become wrong
    since its preview writes nothing and stays until it expires. The upload's row is locked,
    so confirming twice at once imports once."""
    try:
        upload_id = uuid.UUID(str(upload_id))
    except ValueError:
        upload = None
    else:
        upload = (
            LegacyKeyUpload.objects.select_for_update()
            .filter(pk=upload_id, uploaded_by=actor, expires_at__gt=timezone.now())
            .first()
        )
    if upload is None:
        raise Rejected(
            [
                _(
                    "This upload is no longer waiting for you: it was imported, it expired or "
                    "someone else uploaded it. Please upload the file again."
                )
            ]
        )
    result = legacy_keys_import(text=upload.text, source=upload.name, actor=actor)
    upload.delete()
    return result


def legacy_key_uploads_purge() -> int:
    """Remove expired uploads; returns how many. Safe to run any time, in any transaction."""
    deleted, _by_model = LegacyKeyUpload.objects.filter(expires_at__lte=timezone.now()).delete()
    return deleted


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


@transaction.atomic
def legacy_key_retrieve(*, entitlement_id: int, serial_number: str, actor) -> LegacyKey:
    """Hand out a key of a `legacy_lms` entitlement's pool, bound to a device serial number.

    The holder of the authorization code (the entitlement's activation code) asks for it.
    One transaction holding the entitlement's row lock, so that two requests cannot take
    more keys than the quantity; the key itself is reserved with SKIP LOCKED, as at
    fulfilment. The same serial again returns the same key and takes no other.
    """
    entitlement = (
        Entitlement.objects.select_for_update(of=("self",))
        .with_status(business_today())
        .select_related("product")
        .get(pk=entitlement_id)
    )
    product = entitlement.product
    if product.delivery_method != DeliveryMethod.LEGACY_LMS:
        raise Rejected(
            [
                _("%(product)s does not take keys from the legacy License Management System.")
                % {"product": product.name}
            ]
        )
    if entitlement.status in (
        EntitlementStatus.EXPIRED,
        EntitlementStatus.REVOKED,
        EntitlementStatus.SUSPENDED,
    ):
        raise Rejected(
            [
                _("The entitlement %(ssrn)s is %(status)s: no key can be handed out.")
                % {
                    "ssrn": entitlement.ssrn,
                    "status": EntitlementStatus(entitlement.status).label.lower(),
                }
            ]
        )
    bound = entitlement.legacy_keys.filter(serial_number=serial_number).first()
    if bound:
        return bound
    if entitlement.legacy_keys.count() >= entitlement.quantity:
        raise Rejected(
            [
                _("All %(quantity)d keys of %(ssrn)s are bound to devices already.")
                % {"quantity": entitlement.quantity, "ssrn": entitlement.ssrn}
            ]
        )
    reserved = legacy_keys_reserve(product=product, count=1)
    if not reserved:
        logger.warning("The legacy key pool of %s is empty; a retrieval was refused", product.sku)
        raise Rejected(
            [
                _(
                    "No key of %(product)s is available right now. Customer Care has been "
                    "told; please try again later."
                )
                % {"product": product.name}
            ]
        )
    key = reserved[0]
    key.state, key.entitlement, key.assigned_at = (
        LegacyKeyState.ASSIGNED,
        entitlement,
        timezone.now(),
    )
    key.serial_number = serial_number
    key.save(update_fields=["state", "entitlement", "assigned_at", "serial_number", "updated_at"])
    audit_event_record(
        actor=actor,
        action="legacy_key.retrieved",
        target=entitlement,
        data={"serial_number": serial_number},
    )
    return key
