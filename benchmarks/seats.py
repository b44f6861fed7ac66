"""How fast the Seats pages answer with a million entitlements (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-seats

Uses the portal benchmark's database `keyship_bench_portal` (portal_database.py; made once,
BENCH_FRESH=1 makes it anew): 1,000,000 entitlements over 10,000 accounts, a contact of 50
accounts that see 20,000 of them. Times the admin's Seats page (unfiltered, one product,
an Account ID search, a later page, the CSV of one product) as a superuser, and the portal's
Seats page as that contact: p50 and p95 of BENCH_REQUESTS requests each, after one warm-up
request, and the queries each runs. The target is under 300 ms.
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
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 20))
NAME = os.environ.get("BENCH_DATABASE", "keyship_bench_portal")

os.environ["DATABASE_URL"] = scratch_database_url(NAME, fresh=os.environ.get("BENCH_FRESH") == "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ["DEBUG"] = "true"
os.environ["ALLOWED_HOSTS"] = "testserver"

import django  # noqa: E402

django.setup()

from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from portal_database import BIG_CONTACT, portal_database  # noqa: E402

from apps.accounts.models import Account, User  # noqa: E402
from apps.entitlements.models import Entitlement  # noqa: E402


def _get(client: Client, url: str) -> None:
    response = client.get(url)
    assert response.status_code == 200, url
    if response.streaming:
        b"".join(response.streaming_content)


def measured(client: Client, url: str) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, queries) of GET `url` (a streamed response read to its end)."""
    _get(client, url)
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        _get(client, url)
        samples.append(time.perf_counter() - started)
    with CaptureQueriesContext(connection) as queries:
        _get(client, url)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]
    return statistics.median(samples) * 1000, p95 * 1000, len(queries)


def main() -> None:
    known = portal_database(name=NAME, rows=ROWS)
    admin, _ = User.objects.get_or_create(
        email="bench@keyship.example", defaults={"is_staff": True, "is_superuser": True}
    )
    staff, contact = Client(), Client()
    staff.force_login(admin)
    contact.force_login(User.objects.get(email=BIG_CONTACT))
    accounts = Account.objects.count()
    later = max(1, accounts // 20 // 2)  # the middle page
    prefix = known.small_account_id[:-2]  # about a hundred accounts
    pages = [
        ("admin, every account", staff, "/admin/seats/"),
        (f"admin, page {later:,}", staff, f"/admin/seats/?page={later}"),
        ("admin, one product", staff, "/admin/seats/?product=BENCH-07"),
        ("admin, Account ID search", staff, f"/admin/seats/?q={prefix}"),
        ("admin, one account", staff, f"/admin/seats/?q={known.small_account_id}"),
        (
            "admin, CSV of an Account ID search",
            staff,
            f"/admin/seats/?q={prefix}&format=csv",
        ),
        ("portal, the contact of 50 accounts", contact, "/seats/"),
    ]
    print(
        f"\n{Entitlement.objects.count():,} entitlements over {accounts:,} accounts; "
        f"{REQUESTS} requests each\n"
    )
    print("| page | p50 ms | p95 ms | queries |\n|---|---:|---:|---:|")
    for label, client, url in pages:
        p50, p95, queries = measured(client, url)
        print(f"| {label} | {p50:.0f} | {p95:.0f} | {queries} |", flush=True)


if __name__ == "__main__":
    main()
