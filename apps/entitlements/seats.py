"""Seats owned against seats used, per account and product: JAL's "monitor" step.

One selector for the portal's Seats page and the admin's, so both say the same numbers.

A seat is owned while its entitlement is **live**: neither revoked nor suspended, and not
expired, that is active or in its grace period (`LIVE_STATUSES`). These are exactly the
entitlements a device can be activated on (the portal's `can_activate`) and whose keys
still work: a suspended entitlement takes no activation and hands out no key until it is
reinstated, an expired one's keys have stopped working, a revoked one is gone for good. An
entitlement in grace still counts, as its keys work until the grace end.

A seat is used by a live activation (not revoked) or a legacy key handed out to the
entitlement, counted for live entitlements only: what a dead entitlement still has bound
frees nothing and costs nothing. Free is owned minus used; below zero when more is bound than
owned (a reduced quantity, a split), which is what this page is for spotting.

An entitlement seen by an account in two roles (sold-to and end customer) counts once for
that account; an entitlement of two accounts counts for each of them.

Legacy keys live in apps.lms, a layer above this one: their table is reached through the
entitlement's `legacy_keys` relation, not imported (as `entitlement_ids_for_term` does).
"""

import datetime
from collections.abc import Collection, Iterator
from dataclasses import dataclass

from django.db import connection
from django.db.models import Exists, OuterRef

from apps.accounts.models import Account
from apps.catalog.models import Product
from apps.entitlements.models import (
    Activation,
    Entitlement,
    EntitlementAccount,
    EntitlementStatus,
)

LIVE_STATUSES = (EntitlementStatus.ACTIVE, EntitlementStatus.GRACE)

# A CSV export reads the rollup this many accounts at a time: a bounded query each, and a
# response that starts at once, whatever the number of accounts.
EXPORT_BATCH = 500


@dataclass(frozen=True)
class SeatRow:
    """One account's seats of one product."""

    account_pk: int
    account_id: str
    account_name: str
    product_sku: str
    product_name: str
    owned: int
    used: int

    @property
    def free(self) -> int:
        return self.owned - self.used


def _query(*, account_pks: list[int], today: datetime.date, product_pk: int | None):
    """The rollup's SQL and its parameters, in SQL that PostgreSQL and SQLite (`make run`)
    both read: the accounts as a list of placeholders, the product filter only when asked."""
    legacy_key_table = Entitlement._meta.get_field("legacy_keys").related_model._meta.db_table
    # Live, as with_status() computes ACTIVE or GRACE (a test holds the two together).
    live = (
        "e.revoked_at IS NULL AND e.suspended_at IS NULL AND (e.term_ends_on IS NULL"
        " OR e.term_ends_on >= %s OR e.grace_ends_on >= %s)"
    )
    accounts = ", ".join(["%s"] * len(account_pks))
    # "+ 0": the product is checked on the rows the accounts lead to, never by reading every
    # entitlement of the product through its index (50,000 at a million) to join them with a
    # page of accounts.
    product = "WHERE e.product_id + 0 = %s" if product_pk is not None else ""
    sql = f"""
        WITH pairs AS (
            SELECT DISTINCT ea.account_id, ea.entitlement_id
            FROM {EntitlementAccount._meta.db_table} ea
            WHERE ea.account_id IN ({accounts})
        ), seats AS (
            SELECT p.account_id, e.product_id,
                CASE WHEN {live} THEN e.quantity ELSE 0 END AS owned,
                CASE WHEN {live} THEN
                    (SELECT count(*) FROM {Activation._meta.db_table} a
                     WHERE a.entitlement_id = e.id AND a.revoked_at IS NULL)
                    + (SELECT count(*) FROM {legacy_key_table} k WHERE k.entitlement_id = e.id)
                ELSE 0 END AS used
            FROM pairs p JOIN {Entitlement._meta.db_table} e ON e.id = p.entitlement_id
            {product}
        )
        SELECT s.account_id, acc.account_id, acc.name, prod.sku, prod.name,
            SUM(s.owned), SUM(s.used)
        FROM seats s
        JOIN {Account._meta.db_table} acc ON acc.id = s.account_id
        JOIN {Product._meta.db_table} prod ON prod.id = s.product_id
        GROUP BY s.account_id, acc.account_id, acc.name, prod.id, prod.sku, prod.name
        ORDER BY acc.account_id, prod.name, prod.sku
    """
    params = [*account_pks, today, today, today, today]
    if product_pk is not None:
        params.append(product_pk)
    return sql, params


def seats_by_account_and_product(
    *, account_pks: Collection[int], today: datetime.date, product_pk: int | None = None
) -> list[SeatRow]:
    """Seats owned, used and free of these accounts (their primary keys), one row per
    account and product they have an entitlement of (live or not: a product whose
    entitlements all ended shows 0 owned), optionally of one product only; ordered by Account
    ID and product. One query, aggregated in the database; the caller bounds the accounts
    (a page of them), which bounds the rows it reads."""
    if not account_pks:
        return []
    sql, params = _query(account_pks=list(account_pks), today=today, product_pk=product_pk)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [
            SeatRow(pk, account_id, name, sku, product, int(owned), int(used))
            for pk, account_id, name, sku, product, owned, used in cursor.fetchall()
        ]


def seats_accounts(*, accounts, product_pk: int | None = None):
    """Those of `accounts` (a queryset) that have an entitlement (of the product, if given),
    in Account ID order: what the Seats pages page through. Each account is probed on its
    own (an index-only look-up, and one stop at the first hit), so reading a page of them
    walks the Account ID index and stops, whatever the number of entitlements."""
    entitlements = EntitlementAccount.objects.filter(account=OuterRef("pk"))
    if product_pk is not None:
        entitlements = entitlements.filter(entitlement__product_id=product_pk)
    return accounts.filter(Exists(entitlements)).order_by("account_id")


def seats_rows_all(
    *, accounts, today: datetime.date, product_pk: int | None = None
) -> Iterator[SeatRow]:
    """Every row of these accounts (a queryset from seats_accounts), EXPORT_BATCH accounts
    per query, for a CSV export."""
    pks = list(accounts.values_list("pk", flat=True))
    for start in range(0, len(pks), EXPORT_BATCH):
        yield from seats_by_account_and_product(
            account_pks=pks[start : start + EXPORT_BATCH], today=today, product_pk=product_pk
        )
