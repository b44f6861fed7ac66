"""The portal's benchmark database, shared by benchmarks/portal.py and benchmarks/seats.py.

`rows` entitlements (1,000,000) on as many shipped order lines (100 to an order), over
`rows / 100` accounts (10,000); one contact is associated with 50 of them, which see
`rows / 50` entitlements (20,000) between them, the others share the rest. Twenty products,
one of them handing out legacy keys (one assigned to each of its entitlements); every tenth
entitlement is activated on a device, every thirtieth on two, some activations revoked. Start
dates spread over 400 days, so about one in thirteen subscriptions is in grace and one in a
hundred expired; one in 97 entitlements is revoked, one in 89 suspended. One in five names its
end customer again as the sold-to (two roles, one account), one in seven a partner as well.

Import it once Django is set up on the scratch database (see scratch_database.py).
"""

import time
from dataclasses import dataclass
from pathlib import Path

from django.core.management import call_command
from django.db import connection

from apps.accounts.models import Account, AccountAssociation, Contact, User
from apps.core import codes, sealing
from apps.entitlements.models import Entitlement

PASSWORD = "keyship-bench"
BIG_CONTACT = "big@bench.example"
SMALL_CONTACT = "small@bench.example"

FILL = """
INSERT INTO catalog_product (sku, name, description, delivery_method, license_type, term_months,
    instructions_url, is_active, created_at, updated_at)
SELECT 'BENCH-' || lpad(p::text, 2, '0'), 'Bench product ' || p, '',
    CASE WHEN p = 20 THEN 'heritage_key' ELSE 'jal' END,
    CASE WHEN p >= 19 THEN 'perpetual' ELSE 'subscription' END,
    CASE WHEN p >= 19 THEN NULL ELSE 12 END, '', true, now(), now()
FROM generate_series(1, 20) p;
INSERT INTO accounts_account (account_id, name, kind, created_at, updated_at)
SELECT lpad(a::text, 10, '0'), 'Account ' || a, 'customer', now(), now()
FROM generate_series(1, %(accounts)s) a;
INSERT INTO orders_salesorder (order_number, language, created_at, updated_at)
SELECT 'P' || o, 'en', now(), now() FROM generate_series(1, %(orders)s) o;
INSERT INTO orders_shipment (order_id, shipped_on, created_at)
SELECT o.id, current_date, now() FROM orders_salesorder o;
INSERT INTO orders_orderline (order_id, line_number, product_id, quantity, requested_ship_date,
    status, status_reason, fulfilled_at, renews_ssrn, shipment_id, waiting_for_keys, created_at,
    updated_at)
SELECT o.id, (g - 1) %% 100 + 1, (SELECT min(id) FROM catalog_product) + g %% 20,
    1 + (g / 3) %% 10, current_date - ((g / 20) %% 400)::int, 'fulfilled', '', now(), '', s.id, 0,
    now(), now()
FROM generate_series(1, %(rows)s) g
JOIN orders_salesorder o ON o.order_number = 'P' || ((g - 1) / 100 + 1)
JOIN orders_shipment s ON s.order_id = o.id
ORDER BY g;
INSERT INTO entitlements_entitlement (ssrn, activation_code_digest, activation_code_sealed,
    product_id, order_line_id, quantity, starts_on, term_ends_on, grace_ends_on, revoked_at,
    revoke_reason, suspended_at, suspend_reason, paper_certificate_number, tracking_number,
    feed_status, created_at, updated_at)
SELECT 'P' || lpad(l.id::text, 13, '0'), encode(sha256(l.id::text::bytea), 'hex'), 'x',
    l.product_id, l.id, l.quantity, l.requested_ship_date,
    CASE WHEN p.term_months IS NULL THEN NULL ELSE l.requested_ship_date + 365 END,
    CASE WHEN p.term_months IS NULL THEN NULL ELSE l.requested_ship_date + 395 END,
    CASE WHEN l.id %% 97 = 0 THEN now() END, CASE WHEN l.id %% 97 = 0 THEN 'bench' ELSE '' END,
    CASE WHEN l.id %% 89 = 0 THEN now() END, CASE WHEN l.id %% 89 = 0 THEN 'bench' ELSE '' END,
    '', '', 'active', now(), now()
FROM orders_orderline l JOIN catalog_product p ON p.id = l.product_id;
"""

# The first `big` entitlements belong to the big contact's accounts (the first 50), the rest
# to the other accounts; the sold-to and partner rows follow the same split.
ACCOUNTS = """
CREATE TEMPORARY TABLE bench_owner AS
SELECT e.id AS entitlement_id, e.product_id,
    CASE WHEN rank <= %(big)s THEN first_account + ((rank / 20) %% %(big_accounts)s)
         ELSE first_account + %(big_accounts)s
             + ((rank / 20) %% (%(accounts)s - %(big_accounts)s)) END AS account_id,
    CASE WHEN rank <= %(big)s THEN first_account + ((rank / 20 + 1) %% %(big_accounts)s)
         ELSE first_account + %(big_accounts)s
             + ((rank / 20 + 7) %% (%(accounts)s - %(big_accounts)s)) END AS partner_id,
    rank
FROM (SELECT id, product_id, row_number() OVER (ORDER BY id) AS rank
      FROM entitlements_entitlement) e,
    (SELECT min(id) AS first_account FROM accounts_account) f;
INSERT INTO entitlements_entitlementaccount (entitlement_id, product_id, account_id, role)
SELECT entitlement_id, product_id, account_id, 'end_customer' FROM bench_owner
UNION ALL
SELECT entitlement_id, product_id, account_id, 'sold_to' FROM bench_owner WHERE rank %% 5 = 0
UNION ALL
SELECT entitlement_id, product_id, partner_id, 'partner' FROM bench_owner WHERE rank %% 7 = 0;
DROP TABLE bench_owner;
INSERT INTO entitlements_activation (entitlement_id, serial_number, license_key, revoked_at,
    revoke_reason, created_at)
SELECT e.id, 'SN' || e.id || '-' || d, 'key', CASE WHEN e.id %% 100 = 0 AND d = 1 THEN now() END,
    '', now()
FROM entitlements_entitlement e JOIN catalog_product p ON p.id = e.product_id
CROSS JOIN generate_series(1, 2) d
WHERE p.delivery_method = 'jal' AND e.id %% 10 = 0 AND (d = 1 OR e.id %% 30 = 0);
INSERT INTO lms_legacykey (product_id, license_key_digest, license_key_sealed, state,
    entitlement_id, assigned_at, serial_number, extra, created_at, updated_at)
SELECT e.product_id, encode(sha256(('key' || e.id)::bytea), 'hex'), 'x', 'assigned', e.id, now(),
    '', '{}', now(), now()
FROM entitlements_entitlement e JOIN catalog_product p ON p.id = e.product_id
WHERE p.delivery_method = 'heritage_key';
"""


@dataclass(frozen=True)
class Known:
    """Values the benchmarks look up: an entitlement of the big contact's (its SSRN, its
    activation code, a serial number it is activated on) and the accounts of each contact."""

    ssrn: str
    code: str
    serial: str
    big_account_ids: list[str]
    small_account_id: str


def portal_database(*, name: str, rows: int) -> Known:
    """The database filled (once: an existing fill is kept), and what the benchmarks need."""
    call_command("migrate", verbosity=0)
    accounts = max(rows // 100, 4)
    big_accounts = min(50, accounts // 2)
    known = Path(__file__).parent / f".{name}_code"
    if not Entitlement.objects.exists():
        print(f"filling {rows:,} entitlements (once) ...", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(
                FILL, {"accounts": accounts, "orders": max(rows // 100, 1), "rows": rows}
            )
            cursor.execute(
                ACCOUNTS,
                {"accounts": accounts, "big_accounts": big_accounts, "big": rows // 50},
            )
        _contacts(big_accounts)
        with connection.cursor() as cursor:
            # What autovacuum leaves behind on a live system: statistics, and the visibility
            # map that lets index-only scans skip the table.
            cursor.execute("VACUUM ANALYZE")
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
        known.unlink(missing_ok=True)
    ordered = Account.objects.order_by("pk").values_list("account_id", flat=True)
    big_account_ids = list(ordered[:big_accounts])
    if not known.exists():
        # An activated entitlement of the big contact's, in the middle of its share.
        activated = (
            Entitlement.objects.filter(
                entitlement_accounts__account__account_id__in=big_account_ids,
                activations__isnull=False,
                revoked_at__isnull=True,
            )
            .order_by("pk")
            .distinct()
        )
        entitlement = activated[activated.count() // 2]
        code, ssrn = codes.new_activation_code(), codes.new_ssrn()
        Entitlement.objects.filter(pk=entitlement.pk).update(
            ssrn=ssrn,
            activation_code_digest=sealing.code_digest(code),
            activation_code_sealed=sealing.seal(code),
        )
        serial = entitlement.activations.values_list("serial_number", flat=True).first()
        known.write_text(f"{ssrn} {code} {serial}")
    ssrn, code, serial = known.read_text().split()
    return Known(
        ssrn=ssrn,
        code=code,
        serial=serial,
        big_account_ids=big_account_ids,
        small_account_id=ordered[big_accounts],
    )


def _contacts(big_accounts: int) -> None:
    """The big contact on the first `big_accounts` accounts, a small one on the next."""
    accounts = list(Account.objects.order_by("pk")[: big_accounts + 1])
    for contact_id, email, mine in (
        ("BENCH-BIG", BIG_CONTACT, accounts[:big_accounts]),
        ("BENCH-SMALL", SMALL_CONTACT, accounts[big_accounts:]),
    ):
        user = User.objects.create_user(email=email, password=PASSWORD)
        contact = Contact.objects.create(user=user, contact_id=contact_id, language="en")
        AccountAssociation.objects.bulk_create(
            AccountAssociation(contact=contact, account=account) for account in mine
        )
