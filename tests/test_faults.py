"""The pipeline through real faults: the Procfile's worker and beat as processes, with
PostgreSQL, a Redis of the test's own and a real SMTP server (benchmarks/pipeline.py).

Two waves of lines are shipped. While the first is being rendered and sent, in turn: the
worker is SIGKILLed (with its children) and started again, Redis is killed and started
empty (every queued message lost), every PostgreSQL connection to the database is
terminated, and beat is SIGKILLed and started again. While the second is being sent, the
SMTP server answers 421 to every message for a minute. In the end every address has its
email, at most one more copy than asked per worker kill (the window between the server's
acceptance and the row's `sent`), no line shipped twice, no certificate made twice, and
nothing left queued or at work.

The leases are a minute here instead of their defaults (5 minutes for a certificate, 3 for
an email), so that the work of the killed worker comes back within the test's few minutes;
what the defaults cost is in the README ("What each fault costs").
"""

import os
import shutil
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings

sys.path.insert(0, str(Path(settings.BASE_DIR) / "benchmarks"))
from pipeline import Pipeline  # noqa: E402

LINES_PER_WAVE, ORDERS_PER_WAVE = 100, 25
SMTP_REFUSAL_SECONDS = 60
LEASE_SECONDS = 60


def _wait_until(condition, *, timeout: float, pipeline: Pipeline, what: str) -> None:
    deadline = time.time() + timeout
    while not condition():
        pipeline.alive()
        if time.time() > deadline:
            raise TimeoutError(f"{what}: not within {timeout:.0f} s (logs in {pipeline.logs})")
        time.sleep(0.5)


def _shipped(pipeline: Pipeline, prefix: str) -> int:
    [(count,)] = pipeline.query(
        "SELECT count(*) FROM orders_orderline l JOIN orders_salesorder o ON o.id = l.order_id "
        "WHERE l.status = 'fulfilled' AND o.order_number LIKE %s",
        [prefix + "%"],
    )
    return count


@pytest.mark.postgres
@pytest.mark.skipif(not shutil.which("redis-server"), reason="needs redis-server")
def test_every_email_arrives_once_through_worker_redis_database_beat_and_smtp_faults(tmp_path):
    database = f"keyship_faults_{os.getpid()}"
    environment = {
        "CERTIFICATE_RENDER_LEASE": str(LEASE_SECONDS),
        "EMAIL_SEND_LEASE": str(LEASE_SECONDS),
    }
    faults: dict[str, tuple[float, set[str]]] = {}
    kills = 0
    with Pipeline(database, environment=environment, logs=tmp_path) as pipeline:
        pipeline.start("worker", "beat")
        pipeline.seed(lines=LINES_PER_WAVE, orders=ORDERS_PER_WAVE, prefix="A")
        first = pipeline.addresses("A")

        def waiting(addresses):
            return addresses - {a.recipient for a in pipeline.accepted()}

        # Given the first wave shipped by beat's sweep and at work in the worker,
        _wait_until(
            lambda: _shipped(pipeline, "A") == LINES_PER_WAVE,
            timeout=150,
            pipeline=pipeline,
            what="the first wave shipped",
        )
        time.sleep(1)
        # when the worker dies with its children and comes back,
        faults["worker SIGKILL"] = (time.time(), waiting(first))
        pipeline.kill("worker")
        kills += 1
        pipeline.start("worker")
        time.sleep(6)
        # Redis dies and comes back empty,
        faults["Redis restarted empty"] = (time.time(), waiting(first))
        pipeline.redis_restart_empty()
        time.sleep(6)
        # every database connection is terminated,
        faults["PostgreSQL connections terminated"] = (time.time(), waiting(first))
        assert pipeline.terminate_connections() > 0
        time.sleep(6)
        # beat dies and comes back,
        faults["beat SIGKILL"] = (time.time(), waiting(first))
        pipeline.kill("beat")
        pipeline.start("beat")
        # and the SMTP server refuses every message of the second wave for a minute,
        pipeline.seed(lines=LINES_PER_WAVE, orders=ORDERS_PER_WAVE, prefix="B")
        second = pipeline.addresses("B")
        _wait_until(
            lambda: _shipped(pipeline, "B") == LINES_PER_WAVE,
            timeout=150,
            pipeline=pipeline,
            what="the second wave shipped",
        )
        faults["SMTP 421"] = (time.time(), waiting(second))
        pipeline.smtp_refuse(SMTP_REFUSAL_SECONDS)

        # then every address gets its email, and nothing is left in flight.
        pipeline.wait(addresses=first | second, timeout=420, check=pipeline.alive)
        accepted = pipeline.accepted()
        in_flight = pipeline.in_flight()
        lines_twice = pipeline.query(
            "SELECT order_line_id FROM entitlements_entitlement GROUP BY order_line_id "
            "HAVING count(*) > 1"
        )
        shipments_twice = pipeline.query(
            "SELECT order_id FROM orders_shipment GROUP BY order_id HAVING count(*) > 1"
        )
        certificates = pipeline.query(
            "SELECT count(*), count(DISTINCT entitlement_id), max(version), "
            "count(*) FILTER (WHERE status = 'ready'), max(attempts) "
            "FROM entitlements_certificate"
        )[0]
        failed = pipeline.query(
            "SELECT count(*) FROM outbox_delivery WHERE status = 'failed' "
            "OR (channel = 'email' AND status <> 'sent')"
        )[0][0]
        refused = pipeline.handler.refused

    copies = Counter(a.message_id for a in accepted)
    per_address = {}
    for a in accepted:
        per_address.setdefault(a.recipient, set()).add(a.message_id)
    # What each fault cost: how long after it the last email waiting at that moment arrived.
    last = {a.recipient: a.at for a in sorted(accepted, key=lambda a: a.at)}
    print()
    for name, (at, waiting_then) in faults.items():
        finished = max((last[address] for address in waiting_then), default=at)
        print(
            f"{name}: {len(waiting_then)} emails outstanding, the last {finished - at:.0f} s later"
        )
    print(f"duplicates: {sum(copies.values()) - len(copies)}; 421 answers: {refused}")

    assert set(per_address) == first | second
    assert all(len(ids) == 1 for ids in per_address.values()), "one Fulfillment Email each"
    assert sum(copies.values()) - len(copies) <= kills
    assert refused > 0, "the 421 minute met emails to send"
    assert in_flight == {"lines": 0, "certificates": 0, "emails": 0}
    assert failed == 0
    assert lines_twice == [] and shipments_twice == []
    count, entitlements, version, ready, _attempts = certificates
    assert count == entitlements == ready == 2 * LINES_PER_WAVE and version == 1
