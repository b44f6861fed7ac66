"""Shipping 10,000 due lines on PostgreSQL, and the floor each step could reach.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres make bench-fulfillment

Creates a fresh database `keyship_bench_fulfillment` beside the one DATABASE_URL names and:
1. fulfils 10,000 due lines (2,500 orders of 4 lines) with the sweep, one process; floor: COPY
   of the same rows (entitlements, their accounts, certificates, shipments, emails, audit
   events, lines) into tables like the real ones, indexes included;
2. renders the documents of CERTIFICATES / 4 shipments as the pdf worker does: their
   certificates (lease, render, store, mark ready), then their Fulfillment Email; floor:
   WeasyPrint rendering the same certificate HTML with nothing else around it;
3. sends the Fulfillment Emails of those certificates' shipments (one each) with the service,
   in batches of 50 as the mail task does, to an SMTP sink in another process; floor:
   Django's send_messages of the same messages over one connection; the median of five rounds.

It runs as production does (DEBUG off: cached templates).
"""

import base64
import gc
import io
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from scratch_database import scratch_database_url  # noqa: E402

LINES = int(os.environ.get("BENCH_LINES", 10_000))
CERTIFICATES = int(os.environ.get("BENCH_CERTIFICATES", 400))
EMAIL_ROUNDS = 5
NAME = os.environ.get("BENCH_DATABASE", "keyship_bench_fulfillment")


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


SMTP_PORT = _free_port()
os.environ.update(
    DATABASE_URL=scratch_database_url(NAME, fresh=True),
    DJANGO_SETTINGS_MODULE="config.settings.base",
    DEBUG="false",
    # Production refuses keys shorter than these (config/settings/base.py).
    SECRET_KEY="keyship-benchmark-secret-key-" + "b" * 30,
    ACTIVATION_CODE_KEY="keyship-benchmark-activation-code-key",
    LICENSE_SIGNING_KEY=base64.b64encode(b"keyship-benchmark-signing-key-32").decode(),
    MEDIA_ROOT=tempfile.mkdtemp(prefix="keyship-bench-"),
    EMAIL_URL=f"smtp://127.0.0.1:{SMTP_PORT}",
    LOG_LEVEL="WARNING",
)

import django  # noqa: E402

django.setup()

from django.core.mail import get_connection  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402

from apps.accounts.models import Account  # noqa: E402
from apps.catalog.models import Product  # noqa: E402
from apps.core.actors import Job  # noqa: E402
from apps.entitlements import pdf  # noqa: E402
from apps.entitlements.models import Certificate  # noqa: E402
from apps.fulfillment import services  # noqa: E402
from apps.notifications.emails import (  # noqa: E402
    ShipmentContents,
    delivery_shipment_id,
    fulfillment_message,
)
from apps.notifications.selectors import shipment_deliveries  # noqa: E402
from apps.orders.models import (  # noqa: E402
    AccountRole,
    OrderAccount,
    OrderEmail,
    OrderLine,
    SalesOrder,
    Shipment,
)
from apps.outbox.models import Delivery  # noqa: E402
from apps.outbox.services import deliveries_send  # noqa: E402

TABLES = [
    "entitlements_entitlement",
    "entitlements_entitlementaccount",
    "entitlements_certificate",
    "orders_shipment",
    "outbox_delivery",
    "core_auditevent",
    "orders_orderline",
]


def due_lines() -> None:
    import datetime

    product = Product.objects.create(
        sku="BENCH-TD",
        name="Threat Defense Subscription",
        description="Intrusion prevention for one gateway.",
        license_type="subscription",
        term_months=12,
        instructions_url="https://docs.keyship.example/td",
    )
    customer = Account.objects.create(account_id="0100012345", name="Northwind Networks")
    partner = Account.objects.create(
        account_id="0200054321", name="Blue Harbor Integrators", kind="partner"
    )
    orders = SalesOrder.objects.bulk_create(
        SalesOrder(order_number=f"B{n:06d}") for n in range(LINES // 4)
    )
    OrderAccount.objects.bulk_create(
        OrderAccount(order=o, account=a, role=r)
        for o in orders
        for a, r in ((customer, AccountRole.END_CUSTOMER), (partner, AccountRole.PARTNER))
    )
    OrderEmail.objects.bulk_create(
        OrderEmail(order=o, email=f"buyer{o.pk}@example.com") for o in orders
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=o,
            line_number=n,
            product=product,
            quantity=1,
            requested_ship_date=datetime.date(2026, 1, 1),
        )
        for o in orders
        for n in range(1, 5)
    )


def copy_floor() -> float:
    """Seconds to COPY the rows the sweep wrote into empty tables like the real ones."""
    dumps = {}
    with connection.cursor() as cursor:
        for table in TABLES:
            buffer = io.BytesIO()
            with cursor.cursor.copy(f"COPY {table} TO STDOUT") as copy:
                for chunk in copy:
                    buffer.write(chunk)
            dumps[table] = buffer.getvalue()
            cursor.execute(f"CREATE TABLE floor_{table} (LIKE {table} INCLUDING ALL)")
    started = time.perf_counter()
    with connection.cursor() as cursor:
        for table, data in dumps.items():
            with cursor.cursor.copy(f"COPY floor_{table} FROM STDIN") as copy:
                copy.write(data)
    return time.perf_counter() - started


def rate(count: int, seconds: float) -> str:
    return f"{count / seconds:,.0f}/s"


def main() -> None:
    call_command("migrate", verbosity=0)
    due_lines()
    print(f"{LINES:,} due lines on PostgreSQL; one process\n")
    rows = []

    # 1. The sweep. Waking the workers is not part of it: the messages go to the broker after commit.
    services._after_commit = lambda report: None
    started = time.perf_counter()
    report = services.order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    fulfil = time.perf_counter() - started
    assert len(report.shipped) == LINES, len(report.shipped)
    floor = copy_floor()
    rows.append(("fulfil due lines", LINES, fulfil, floor, "COPY of the same rows"))
    # A worker does not carry the sweep's 10,000 lines around: neither do the next steps, or
    # the garbage collector walking them would slow every allocation down.
    del report
    gc.collect()

    # 2. Documents, as the pdf worker renders them: a shipment's certificates, then its email.
    shipments = list(
        Shipment.objects.order_by("pk").values_list("pk", flat=True)[: CERTIFICATES // 4]
    )
    services.shipment_documents_prepare(shipment_id=shipments[0])  # warm-up: fonts, stylesheet
    started = time.perf_counter()
    for shipment_id in shipments[1:]:
        services.shipment_documents_prepare(shipment_id=shipment_id)
    ours = time.perf_counter() - started
    certificates = list(
        Certificate.objects.filter(entitlement__order_line__shipment__in=shipments)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    assert len(certificates) == len(shipments) * 4
    assert not Certificate.objects.filter(pk__in=certificates).exclude(status="ready").exists()
    from weasyprint import CSS, HTML

    html = pdf.certificate_html(Certificate.objects.get(pk=certificates[1]))
    HTML(string=html).write_pdf(stylesheets=[CSS(filename=str(pdf.STYLESHEET))])  # warm-up
    started = time.perf_counter()
    for _ in certificates[4:]:
        HTML(string=html, base_url=str(pdf.STYLESHEET.parent)).write_pdf(
            stylesheets=[CSS(filename=str(pdf.STYLESHEET))]
        )
    bare = time.perf_counter() - started
    rows.append(
        ("render certificates", len(certificates) - 4, ours, bare, "bare WeasyPrint render")
    )

    # 3. Emails, to an SMTP sink in its own process.
    sink = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "aiosmtpd",
            "-n",
            "-l",
            f"127.0.0.1:{SMTP_PORT}",
            "-c",
            "aiosmtpd.handlers.Sink",
        ]
    )
    time.sleep(1.0)
    try:
        deliveries = list(
            shipment_deliveries(shipments=Shipment.objects.filter(pk__in=shipments)).order_by("pk")
        )
        contents = ShipmentContents({delivery_shipment_id(d) for d in deliveries})
        messages = [fulfillment_message(d, contents) for d in deliveries]
        deliveries_send(delivery_ids=[deliveries[0].pk])  # warm-up: the connection
        smtp = get_connection()
        smtp.open()
        # One round of 99 emails takes about a second, short enough for the machine's noise to
        # show: five rounds, Keyship then the floor, each sending every email again (its row
        # put back in the queue), and the median of each.
        ours_rounds, bare_rounds = [], []
        for _ in range(EMAIL_ROUNDS):
            Delivery.objects.filter(pk__in=[d.pk for d in deliveries[1:]]).update(
                status="queued", attempts=0
            )
            started = time.perf_counter()
            for start in range(1, len(deliveries), 50):
                deliveries_send(delivery_ids=[d.pk for d in deliveries[start : start + 50]])
            ours_rounds.append(time.perf_counter() - started)
            assert Delivery.objects.filter(status="sent").count() == len(deliveries)
            started = time.perf_counter()
            smtp.send_messages(messages[1:])
            bare_rounds.append(time.perf_counter() - started)
        smtp.close()
        ours, bare = statistics.median(ours_rounds), statistics.median(bare_rounds)
        print(
            "emails, each round: Keyship "
            + ", ".join(f"{t:.2f}" for t in ours_rounds)
            + " s; floor "
            + ", ".join(f"{t:.2f}" for t in bare_rounds)
            + " s"
        )
        rows.append(
            (
                "send Fulfillment Emails",
                len(deliveries) - 1,
                ours,
                bare,
                "send_messages, one connection",
            )
        )
    finally:
        sink.terminate()

    print("| step | count | Keyship | rate | floor | floor rate | ratio |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for step, count, ours, floor, what in rows:
        print(
            f"| {step} | {count:,} | {ours:.2f} s | {rate(count, ours)} | {floor:.2f} s ({what}) "
            f"| {rate(count, floor)} | {ours / floor:.2f}x |"
        )


if __name__ == "__main__":
    main()
