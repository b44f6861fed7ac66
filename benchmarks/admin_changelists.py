"""How the admin holds up with a million entitlements (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-admin

Creates (once; BENCH_FRESH=1 makes it anew, as after a schema change) a database
`keyship_bench_admin` beside the one DATABASE_URL names, fills it
with 1,000,000 entitlements on 1,000,000 order lines, 1,000 accounts and 100,000 activations,
then times the pages Customer Care and Operations open most: each figure is the median of
five requests through Django's test client, after one warm-up request.
"""

import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch_database import scratch_database_url  # noqa: E402

ROWS = int(os.environ.get("BENCH_ROWS", 1_000_000))
NAME = os.environ.get("BENCH_DATABASE", "keyship_bench_admin")


os.environ["DATABASE_URL"] = scratch_database_url(NAME, fresh=os.environ.get("BENCH_FRESH") == "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ["DEBUG"] = "true"
os.environ["ALLOWED_HOSTS"] = "testserver"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.core import codes, sealing  # noqa: E402
from apps.entitlements.models import Entitlement  # noqa: E402

FILL = """
INSERT INTO catalog_product (sku, name, description, delivery_method, license_type, term_months,
    instructions_url, is_active, created_at, updated_at)
VALUES ('BENCH-1', 'Bench license', '', 'jal', 'subscription', 12, '', true, now(), now());
INSERT INTO accounts_account (account_id, name, kind, created_at, updated_at)
SELECT lpad(a::text, 10, '0'), 'Account ' || a, 'customer', now(), now() FROM generate_series(1, 1000) a;
INSERT INTO orders_salesorder (order_number, language, created_at, updated_at)
SELECT 'B' || o, 'en', now(), now() FROM generate_series(1, %(orders)s) o;
INSERT INTO orders_shipment (order_id, shipped_on, created_at)
SELECT o.id, date '2026-01-01', now() FROM orders_salesorder o;
INSERT INTO orders_orderline (order_id, line_number, product_id, quantity, requested_ship_date,
    status, status_reason, fulfilled_at, renews_ssrn, shipment_id, waiting_for_keys, created_at, updated_at)
SELECT o.id, n, (SELECT id FROM catalog_product WHERE sku = 'BENCH-1'), 1, date '2026-01-01' + (n %% 300),
    'fulfilled', '', now(), '', s.id, 0, now(), now()
FROM orders_salesorder o JOIN orders_shipment s ON s.order_id = o.id CROSS JOIN generate_series(1, 1000) n;
INSERT INTO entitlements_entitlement (ssrn, activation_code_digest, activation_code_sealed, product_id,
    order_line_id, quantity, starts_on, term_ends_on, grace_ends_on, revoked_at, paper_certificate_number,
    tracking_number, suspend_reason, revoke_reason, feed_status, created_at, updated_at)
SELECT 'B' || lpad(l.id::text, 13, '0'), encode(sha256(l.id::text::bytea), 'hex'), 'x', l.product_id,
    l.id, 1, l.requested_ship_date, l.requested_ship_date + 365, l.requested_ship_date + 395, NULL, '', '',
    '', '',
    'active', now() - (l.id || ' seconds')::interval, now()
FROM orders_orderline l;
INSERT INTO entitlements_entitlementaccount (entitlement_id, product_id, account_id, role)
SELECT e.id, e.product_id,
    (SELECT id FROM accounts_account ORDER BY id LIMIT 1 OFFSET (e.id %% 1000)), 'end_customer'
FROM entitlements_entitlement e;
INSERT INTO entitlements_activation (entitlement_id, serial_number, license_key, revoke_reason, created_at)
SELECT e.id, 'SN' || e.id, 'key', '', now() FROM entitlements_entitlement e WHERE e.id %% 10 = 0;
"""


def fill() -> tuple[str, str, str]:
    """The database filled; returns (ssrn, activation code, order number) of a known row."""
    call_command("migrate", verbosity=0)
    known = Path(__file__).parent / f".{NAME}_code"
    if not Entitlement.objects.exists():
        print(f"filling {ROWS:,} entitlements (once) ...", flush=True)
        started = time.perf_counter()
        with connection.cursor() as cursor:
            cursor.execute(FILL, {"orders": ROWS // 1000})
            cursor.execute("ANALYZE")
        print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)
        known.unlink(missing_ok=True)
    if not known.exists():
        code, ssrn = codes.new_activation_code(), codes.new_ssrn()
        middle = Entitlement.objects.order_by("pk").values_list("pk", flat=True)[ROWS // 2]
        Entitlement.objects.filter(pk=middle).update(
            ssrn=ssrn,
            activation_code_digest=sealing.code_digest(code),
            activation_code_sealed=sealing.seal(code),
        )
        known.write_text(f"{ssrn} {code}")
    ssrn, code = known.read_text().split()
    order = Entitlement.objects.get(ssrn=ssrn).order_line.order.order_number
    return ssrn, code, order


def timed(client: Client, url: str, params: dict | None = None) -> float:
    # Find searches only what is posted; every other page is a GET.
    send = client.post if url == "/admin/find/" else client.get
    assert send(url, params).status_code == 200, url
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        response = send(url, params)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200
    return statistics.median(samples) * 1000


def main() -> None:
    ssrn, code, order = fill()
    admin, _ = User.objects.get_or_create(
        email="bench@keyship.example", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    count = Entitlement.objects.count()
    page = min(2000, max(1, count // 100))  # page 2,000 of a million; the middle of fewer
    pages = [
        ("entitlements, unfiltered", "/admin/entitlements/entitlement/", None),
        (f"entitlements, page {page:,}", "/admin/entitlements/entitlement/", {"p": str(page)}),
        ("entitlements, status = grace", "/admin/entitlements/entitlement/", {"status": "grace"}),
        ("entitlements, search SSRN", "/admin/entitlements/entitlement/", {"q": ssrn}),
        ("entitlements, search order number", "/admin/entitlements/entitlement/", {"q": order}),
        (
            "entitlements, search serial number",
            "/admin/entitlements/entitlement/",
            {"q": "SN500000"},
        ),
        (
            "entitlements, one account's",
            "/admin/entitlements/entitlement/",
            {"accounts__account_id": "0000000500"},
        ),
        ("order lines, unfiltered", "/admin/orders/orderline/", None),
        ("order lines, status = open", "/admin/orders/orderline/", {"status__exact": "open"}),
        ("activations, unfiltered", "/admin/entitlements/activation/", None),
        ("find box, SSRN", "/admin/find/", {"q": ssrn}),
        ("find box, Account ID", "/admin/find/", {"q": "0000000500"}),
        ("find box, activation code", "/admin/find/", {"q": code.lower()}),
        ("find box, order number in lower case", "/admin/find/", {"q": order.lower()}),
        ("find box, serial number in lower case", "/admin/find/", {"q": "sn500000"}),
        ("find box, email address", "/admin/find/", {"q": "Nobody@Example.com"}),
    ]
    print(f"\n{count:,} entitlements; median of 5 requests\n")
    print("| page | ms |\n|---|---:|")
    for label, url, params in pages:
        print(f"| {label} | {timed(client, url, params):.0f} |", flush=True)


if __name__ == "__main__":
    main()
