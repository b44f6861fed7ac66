"""How the portal holds up for a contact of many accounts (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-portal

Creates (once; BENCH_FRESH=1 makes it anew, as after a schema change) a database
`keyship_bench_portal` beside the one DATABASE_URL names and fills it (portal_database.py):
1,000,000 entitlements over 10,000 accounts, a contact associated with 50 of them that see
20,000 entitlements. Then, signed in as that contact through Django's test client, it loads
the entitlement list, filtered lists, searches by SSRN, activation code and device serial
number, and an entitlement's page: p50 and p95 of BENCH_REQUESTS requests each, after one
warm-up request, and the number of SQL queries each answers with. The targets: p95 under
50 ms and at most 8 queries. Exits non-zero when a page runs more queries than that.
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
REQUESTS = int(os.environ.get("BENCH_REQUESTS", 50))
NAME = os.environ.get("BENCH_DATABASE", "keyship_bench_portal")
MAX_QUERIES = 8

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

from apps.accounts.models import User  # noqa: E402
from apps.entitlements.models import Entitlement  # noqa: E402


def measured(client: Client, url: str) -> tuple[float, float, int]:
    """(p50 ms, p95 ms, queries) of GET `url`; a page over the limit prints its queries."""
    assert client.get(url).status_code == 200, url
    samples = []
    for _ in range(REQUESTS):
        started = time.perf_counter()
        response = client.get(url)
        samples.append(time.perf_counter() - started)
        assert response.status_code == 200, url
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    if len(queries) > MAX_QUERIES:
        for query in queries.captured_queries:
            print(f"{url}: {query['sql'][:300]}", file=sys.stderr)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * len(samples)) - 1)]
    return statistics.median(samples) * 1000, p95 * 1000, len(queries)


def searched(client: Client, text: str) -> str:
    """The list's address for a search of `text`: the search is posted and kept in the
    session, the list's address names it (apps/portal/searches.py)."""
    response = client.post("/entitlements/", {"q": text})
    assert response.status_code == 302, response.status_code
    return response["Location"]


def main() -> None:
    known = portal_database(name=NAME, rows=ROWS)
    client = Client()
    client.force_login(User.objects.get(email=BIG_CONTACT))
    one_account = known.big_account_ids[len(known.big_account_ids) // 2]
    pages = [
        ("list", "/entitlements/"),
        ("list, page 20", "/entitlements/?page=20"),
        ("list, one account", f"/entitlements/?account={one_account}"),
        ("list, status grace, by end", "/entitlements/?status=grace&sort=end"),
        ("list, one product, by SSRN", "/entitlements/?product=BENCH-07&sort=ssrn"),
        ("search, SSRN", searched(client, known.ssrn)),
        ("search, activation code", searched(client, known.code.lower())),
        ("search, serial number", searched(client, known.serial.lower())),
        ("entitlement page", f"/entitlements/{known.ssrn}/"),
    ]
    seen = Entitlement.objects.filter(
        entitlement_accounts__account__account_id__in=known.big_account_ids
    ).distinct()
    print(
        f"\n{Entitlement.objects.count():,} entitlements; the contact sees {seen.count():,} "
        f"through {len(known.big_account_ids)} accounts; {REQUESTS} requests each\n"
    )
    print("| page | p50 ms | p95 ms | queries |\n|---|---:|---:|---:|")
    too_many = []
    for label, url in pages:
        p50, p95, queries = measured(client, url)
        print(f"| {label} | {p50:.0f} | {p95:.0f} | {queries} |", flush=True)
        if queries > MAX_QUERIES:
            too_many.append(label)
    if too_many:
        sys.exit(f"more than {MAX_QUERIES} queries: {', '.join(too_many)}")


if __name__ == "__main__":
    main()
