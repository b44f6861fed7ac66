"""How fast the admin's front page (the dashboard) answers with a million entitlements and
100,000 queued messages (PostgreSQL).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-dashboard

Creates (once; BENCH_FRESH=1 makes it anew, as after a schema change) a database
`keyship_bench_dashboard` beside the one DATABASE_URL names, fills it with 1,000,000
entitlements on as many shipped order lines, each with its rendered certificate, 100,000
outgoing messages still in the outbox (emails and webhook events: queued, retrying and
failed), 1,000,000 sent ones, some certificates waiting or failed, open, held and blocked lines,
the jobs' last runs and the processes' heartbeats; then loads the front page and the
dashboard on its own as a superuser through Django's test client: p50 and p95 of
BENCH_LOADS loads each, after one warm-up load. The target is under 300 ms.
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
QUEUED = int(os.environ.get("BENCH_QUEUED", 100_000))
LOADS = int(os.environ.get("BENCH_LOADS", 20))
NAME = os.environ.get("BENCH_DATABASE", "keyship_bench_dashboard")

os.environ["DATABASE_URL"] = scratch_database_url(NAME, fresh=os.environ.get("BENCH_FRESH") == "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
os.environ["DEBUG"] = "true"
os.environ["ALLOWED_HOSTS"] = "testserver"

import django  # noqa: E402

django.setup()

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402

from apps.accounts.models import User  # noqa: E402
from apps.entitlements.models import Entitlement  # noqa: E402

# Shipped lines are spread over the last 300 days (and their terms over the next year, so
# that some enter grace this week); the queued messages over the last day.
FILL = """
INSERT INTO catalog_product (sku, name, description, delivery_method, license_type, term_months,
    instructions_url, is_active, created_at, updated_at)
VALUES ('BENCH-1', 'Bench license', '', 'jal', 'subscription', 12, '', true, now(), now()),
       ('BENCH-KEYS', 'Bench legacy keys', '', 'heritage_key', 'perpetual', NULL, '', true, now(), now());
INSERT INTO orders_salesorder (order_number, language, created_at, updated_at)
SELECT 'B' || o, 'en', now(), now() FROM generate_series(1, %(orders)s) o;
INSERT INTO orders_shipment (order_id, shipped_on, created_at)
SELECT o.id, current_date - (o.id %% 300)::int, now() - ((o.id %% 300) || ' days')::interval
FROM orders_salesorder o;
INSERT INTO orders_orderline (order_id, line_number, product_id, quantity, requested_ship_date,
    status, status_reason, fulfilled_at, renews_ssrn, shipment_id, waiting_for_keys, created_at, updated_at)
SELECT o.id, n, (SELECT id FROM catalog_product WHERE sku = 'BENCH-1'), 1, s.shipped_on,
    'fulfilled', '', s.created_at, '', s.id, 0, now(), now()
FROM orders_salesorder o JOIN orders_shipment s ON s.order_id = o.id CROSS JOIN generate_series(1, 1000) n;
INSERT INTO entitlements_entitlement (ssrn, activation_code_digest, activation_code_sealed, product_id,
    order_line_id, quantity, starts_on, term_ends_on, grace_ends_on, revoked_at, paper_certificate_number,
    tracking_number, suspend_reason, revoke_reason, feed_status, created_at, updated_at)
SELECT 'B' || lpad(l.id::text, 13, '0'), encode(sha256(l.id::text::bytea), 'hex'), 'x', l.product_id,
    l.id, 1, l.requested_ship_date, l.requested_ship_date + 365, l.requested_ship_date + 395, NULL, '', '',
    '', '',
    'active', now(), now()
FROM orders_orderline l;
INSERT INTO entitlements_certificate (entitlement_id, version, status, language, reason,
    shows_activation_code, file, sha256, created_at, rendered_at, attempts, next_attempt_at,
    lease_expires_at, last_error)
SELECT e.id, 1, CASE WHEN e.id %% 1000 = 0 THEN 'queued' WHEN e.id %% 2500 = 1 THEN 'failed' ELSE 'ready' END,
    'en', '', true, '', '', now() - ((e.id %% 3600) || ' seconds')::interval,
    CASE WHEN e.id %% 1000 = 0 OR e.id %% 2500 = 1 THEN NULL ELSE now() END,
    CASE WHEN e.id %% 2000 = 0 THEN 2 ELSE 0 END, now(), NULL, ''
FROM entitlements_entitlement e;
-- The outbox: a million messages sent, and QUEUED still in it.
INSERT INTO outbox_delivery (channel, kind, topic, about, recipient, language, payload, content_sealed,
    status, message_id, sent_at, reason, created_at, esp_message_id, tracking_status, tracking_detail,
    attempts, next_attempt_at, last_error)
SELECT 'email', 'fulfillment', 'shipment:' || d, 'B' || d, 'sent' || d || '@example.com', 'en', '{}', '',
    'sent', 'sent-' || d || '@bench', now(), '', now() - ((d %% 86400) || ' seconds')::interval, '', '', '',
    1, now(), ''
FROM generate_series(1, %(sent)s) d;
INSERT INTO outbox_delivery (channel, kind, topic, about, recipient, language, payload, content_sealed,
    status, message_id, sent_at, reason, created_at, esp_message_id, tracking_status, tracking_detail,
    attempts, next_attempt_at, last_error)
SELECT CASE WHEN d %% 10 = 0 THEN 'webhook' ELSE 'email' END,
    CASE WHEN d %% 10 = 0 THEN 'webhook_event' ELSE 'fulfillment' END,
    'shipment:q' || d, 'Q' || d, 'queued' || d || '@example.com', 'en', '{}', '',
    CASE WHEN d %% 50 = 0 THEN 'failed' WHEN d %% 7 = 0 THEN 'retry' ELSE 'queued' END,
    'queued-' || d || '@bench', NULL, '', now() - ((d %% 86400) || ' seconds')::interval, '', '', '',
    CASE WHEN d %% 7 = 0 THEN 3 ELSE 0 END, now(), ''
FROM generate_series(1, %(queued)s) d;
-- Lines still in play: open (some overdue), held, blocked for want of keys.
INSERT INTO orders_orderline (order_id, line_number, product_id, quantity, requested_ship_date,
    status, status_reason, fulfilled_at, renews_ssrn, shipment_id, waiting_for_keys, created_at, updated_at)
SELECT (SELECT min(id) FROM orders_salesorder), 100000 + n,
    (SELECT id FROM catalog_product WHERE sku = CASE WHEN n %% 3 = 0 THEN 'BENCH-KEYS' ELSE 'BENCH-1' END),
    1, current_date + (n %% 30)::int - 2,
    CASE WHEN n %% 3 = 0 THEN 'blocked' WHEN n %% 5 = 0 THEN 'on_hold' ELSE 'open' END,
    CASE WHEN n %% 3 = 0 THEN 'waiting for 1 more legacy key of "BENCH-KEYS"'
         WHEN n %% 5 = 0 THEN 'customer asked to wait' ELSE '' END,
    NULL, '', NULL, CASE WHEN n %% 3 = 0 THEN 1 ELSE 0 END, now(), now()
FROM generate_series(1, 3000) n;
INSERT INTO core_jobrun (name, host, started_at, finished_at, summary)
SELECT j, 'worker-' || (r %% 3), now() - (r || ' minutes')::interval,
    now() - (r || ' minutes')::interval + interval '2 seconds', '{"lines_shipped": 0}'
FROM unnest(ARRAY['fulfil_due_task', 'queued_work_rescue_task']) j CROSS JOIN generate_series(1, 200) r;
"""


def fill() -> None:
    call_command("migrate", verbosity=0)
    if Entitlement.objects.exists():
        return
    print(f"filling {ROWS:,} entitlements and {QUEUED:,} queued messages (once) ...", flush=True)
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(FILL, {"orders": max(1, ROWS // 1000), "queued": QUEUED, "sent": ROWS})
        # Index-only scans need the visibility map, as autovacuum keeps it on a live system.
        cursor.execute("VACUUM ANALYZE")
    print(f"filled in {time.perf_counter() - started:.0f} s", flush=True)


def timed(client: Client, url: str) -> tuple[float, float, int]:
    """(p50, p95) in milliseconds over LOADS loads after a warm-up, and the queries of one."""
    assert client.get(url).status_code == 200, url
    samples = []
    for _ in range(LOADS):
        started = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200
    with CaptureQueriesContext(connection) as queries:
        client.get(url)
    samples.sort()
    p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
    return statistics.median(samples), p95, len(queries)


def main() -> None:
    fill()
    from apps.core.models import ProcessKind
    from apps.core.services import heartbeat_record

    heartbeat_record(kind=ProcessKind.BEAT, host="bench")
    for queue in ("fulfillment", "pdf", "mail", "webhooks"):
        heartbeat_record(kind=ProcessKind.WORKER, host="celery@bench", queue=queue)
    admin, _ = User.objects.get_or_create(
        email="bench@keyship.example", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client()
    client.force_login(admin)
    count = Entitlement.objects.count()
    from apps.outbox.models import Delivery

    queued = Delivery.objects.exclude(status="sent").count()
    print(f"\n{count:,} entitlements, {queued:,} messages in the outbox; {LOADS} loads each\n")
    print("| page | p50 ms | p95 ms | queries |\n|---|---:|---:|---:|")
    for label, url in [
        ("front page (dashboard and apps)", "/admin/"),
        ("dashboard on its own", "/admin/dashboard/"),
    ]:
        p50, p95, queries = timed(client, url)
        print(f"| {label} | {p50:.0f} | {p95:.0f} | {queries} |", flush=True)


if __name__ == "__main__":
    main()
