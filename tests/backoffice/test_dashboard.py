"""The admin's front page: what is due and stuck, the queues with their retry, the jobs and
whether beat and the workers run."""

import datetime
import re
import socket
from html import unescape

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.dates import business_today
from apps.core.models import AuditEvent, Heartbeat, JobRun, ProcessKind
from apps.core.services import heartbeat_record, job_run_record
from apps.entitlements.models import CertificateStatus
from apps.orders.models import LineStatus
from apps.outbox.models import Channel, Delivery, DeliveryKind, DeliveryStatus
from tests.factories.accounts import ContactFactory, UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import CertificateFactory, EntitlementFactory
from tests.factories.lms import LegacyKeyFactory
from tests.factories.notifications import DeliveryFactory
from tests.factories.orders import OrderLineFactory, ShipmentFactory

pytestmark = pytest.mark.django_db

INDEX = "admin:index"
REASON = 'waiting for 2 more legacy keys of "KS-LEGACY-9"'


def staff(client, role=None, **fields):
    user = UserFactory(is_staff=True, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return user


def text(html: bytes) -> str:
    """The page as a person reads it: tags gone, spaces collapsed."""
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html.decode()))).strip()


def section(page, name: str) -> str:
    html = page.content.decode()
    match = re.search(rf'<div class="module" id="dashboard-{name}">(.*?)</div>', html, re.S)
    assert match, f"no {name} section"
    return match.group(1)


def row(page, name: str, label: str) -> str:
    """The text of the row of a section that starts with `label`."""
    for tr in re.findall(r"<tr[^>]*>(.*?)</tr>", section(page, name), re.S):
        words = text(tr.encode())
        if words.startswith(label):
            return words
    raise AssertionError(f"no row {label!r} in {name}: {text(section(page, name).encode())}")


def fresh_heartbeats():
    heartbeat_record(kind=ProcessKind.BEAT, host="beat-host")
    for queue in ("fulfillment", "pdf", "mail", "webhooks"):
        heartbeat_record(kind=ProcessKind.WORKER, host="celery@worker-1", queue=queue)


@pytest.fixture
def situation():
    """A blocked line with its reason, an overdue and a held line, a failed email and a
    failed webhook event, a stuck and a failed certificate, a pool below its warning level,
    a subscription entering grace in three days, and the last runs of the jobs."""
    today = business_today()
    legacy = ProductFactory(sku="KS-LEGACY-9", delivery_method="heritage_key")
    for _ in range(2):
        OrderLineFactory(
            product=legacy, status=LineStatus.BLOCKED, status_reason=REASON, waiting_for_keys=2
        )
    OrderLineFactory(
        status=LineStatus.BLOCKED, status_reason="the order has no end customer account"
    )
    overdue = OrderLineFactory(requested_ship_date=today - datetime.timedelta(days=2))
    OrderLineFactory(status=LineStatus.ON_HOLD, status_reason="customer asked to wait")
    OrderLineFactory(requested_ship_date=today + datetime.timedelta(days=5))  # not due
    email = DeliveryFactory(status=DeliveryStatus.FAILED, last_error="550 no such user")
    DeliveryFactory(status=DeliveryStatus.SENT, sent_at=timezone.now())
    DeliveryFactory(status=DeliveryStatus.RETRY, attempts=2)
    webhook = DeliveryFactory(
        channel=Channel.WEBHOOK,
        kind=DeliveryKind.WEBHOOK_EVENT,
        recipient="https://erp.example.com/hook",
        status=DeliveryStatus.FAILED,
    )
    stuck = CertificateFactory(
        status=CertificateStatus.RENDERING,
        attempts=1,
        lease_expires_at=timezone.now() - datetime.timedelta(hours=3),
    )
    type(stuck).objects.filter(pk=stuck.pk).update(
        created_at=timezone.now() - datetime.timedelta(hours=3, minutes=5)
    )
    failed_certificate = CertificateFactory(status=CertificateStatus.FAILED, attempts=5)
    LegacyKeyFactory(product=legacy)
    grace = EntitlementFactory(
        product=ProductFactory(name="Threat Defense", subscription=True),
        starts_on=today - datetime.timedelta(days=362),
        term_ends_on=today + datetime.timedelta(days=3),
        grace_ends_on=today + datetime.timedelta(days=33),
    )
    EntitlementFactory(  # a renewal's term: no grace after it
        starts_on=today - datetime.timedelta(days=362), term_ends_on=today + datetime.timedelta(3)
    )
    started = timezone.now() - datetime.timedelta(seconds=40)
    job_run_record(
        name="fulfil_due_task",
        started_at=started,
        finished_at=started + datetime.timedelta(seconds=2.5),
        summary={"lines_shipped": 7, "lines_blocked": 3, "shipments": 4},
        host="worker-1",
    )
    fresh_heartbeats()
    return {
        "overdue": overdue,
        "email": email,
        "webhook": webhook,
        "stuck": stuck,
        "failed_certificate": failed_certificate,
        "grace": grace,
    }


@pytest.mark.parametrize("role", [None, OPERATIONS, CUSTOMER_CARE])
def test_the_front_page_shows_each_figure_with_a_link_to_its_rows(client, situation, role):
    staff(client, role, is_superuser=role is None)

    page = client.get(reverse(INDEX))

    assert page.status_code == 200
    assert row(page, "lines", "Overdue (due, not shipped)").startswith(
        "Overdue (due, not shipped) 1"
    )
    assert row(page, "lines", "On hold") == "On hold 1"
    assert row(page, "lines", "Blocked") == "Blocked 3"
    assert row(page, "lines", REASON) == f"{REASON} 2"
    assert row(page, "lines", "the order has no end customer account").endswith(" 1")
    assert row(page, "queues", "Emails").startswith("Emails 1 ")  # the one retrying
    assert "In retry" in section(page, "queues")
    assert re.match(r"Emails 1 .* 1 1", row(page, "queues", "Emails"))  # waiting, retry, failed
    assert re.match(r"Webhooks 0 - 0 1", row(page, "queues", "Webhooks"))
    assert re.match(r"Certificates 1 3 hours.* 0 1$", row(page, "queues", "Certificates"))
    assert "Sweep (ship due lines)" in row(page, "jobs", "Sweep")
    assert "lines shipped: 7, lines blocked: 3, shipments: 4" in row(page, "jobs", "Sweep")
    assert "2.5 s" in row(page, "jobs", "Sweep")
    assert "Not run yet" in row(page, "jobs", "Rescue")
    assert situation["grace"].ssrn in section(page, "grace")
    assert "1 subscription enters grace within 7 days" in text(section(page, "grace").encode())
    assert 'role="alert"' not in page.content.decode()
    # The app list stays below
    assert reverse("admin:orders_orderline_changelist") in page.content.decode()
    if role == CUSTOMER_CARE:  # no access to the key pools
        assert 'id="dashboard-pools"' not in page.content.decode()
    else:
        assert row(page, "pools", "KS-LEGACY-9") == "KS-LEGACY-9 1 2"


def test_each_number_links_to_a_list_that_shows_as_many_rows(admin_client, situation):
    page = admin_client.get(reverse(INDEX))
    html = page.content.decode()
    links = {
        unescape(href): int(number)
        for href, number in re.findall(r'<a href="([^"]+)">(\d+)</a>', html)
        if "?" in href
    }

    assert len(links) >= 12
    for href, number in links.items():
        listed = admin_client.get(href)
        assert listed.status_code == 200, href
        assert listed.context["cl"].result_count == number, href


def test_the_page_costs_the_same_queries_whatever_the_tables_hold(admin_client, situation):
    admin_client.get(reverse(INDEX))  # warm: the session, the content types
    with CaptureQueriesContext(connection) as few:
        admin_client.get(reverse(INDEX))
    for _ in range(5):
        OrderLineFactory(status=LineStatus.BLOCKED, status_reason=f"another reason {_}")
        DeliveryFactory(status=DeliveryStatus.FAILED)
        CertificateFactory(status=CertificateStatus.FAILED)
        LegacyKeyFactory()
        EntitlementFactory(
            starts_on=business_today(),
            term_ends_on=business_today() + datetime.timedelta(days=2),
            grace_ends_on=business_today() + datetime.timedelta(days=32),
        )
        heartbeat_record(kind=ProcessKind.WORKER, host=f"celery@more-{_}", queue="mail")
    with CaptureQueriesContext(connection) as many:
        admin_client.get(reverse(INDEX))

    assert len(many) == len(few)


def test_the_page_runs_a_fixed_number_of_queries(
    admin_client, situation, django_assert_num_queries
):
    admin_client.get(reverse(INDEX))
    # the request's savepoint, session, user; lines, reasons, shipments; certificates,
    # deliveries; runs, heartbeats; pools (two); grace (count, rows); the recent actions box
    with django_assert_num_queries(16):
        admin_client.get(reverse(INDEX))


def test_a_portal_user_is_refused(client, situation):
    contact = ContactFactory()
    client.force_login(contact.user)

    for url in (reverse(INDEX), reverse("admin:dashboard")):
        page = client.get(url)
        assert page.status_code == 302 and "/login/" in page["Location"]
    page = client.post(reverse("admin:dashboard_retry"), {"queue": "emails"})
    assert page.status_code == 302 and "/login/" in page["Location"]
    situation["email"].refresh_from_db()
    assert situation["email"].status == DeliveryStatus.FAILED


def test_operations_retries_the_failed_emails_and_only_those(client, situation):
    ops = staff(client, OPERATIONS)
    waiting = Delivery.objects.get(status=DeliveryStatus.RETRY)
    other_failed = DeliveryFactory(status=DeliveryStatus.FAILED, attempts=9)
    page = client.get(reverse(INDEX))
    assert 'name="queue" value="emails"' in page.content.decode()

    with_retry = client.post(reverse("admin:dashboard_retry"), {"queue": "emails"}, follow=True)

    assert "2 failed items queued again." in text(with_retry.content)
    for delivery in (situation["email"], other_failed):
        delivery.refresh_from_db()
        assert (delivery.status, delivery.attempts) == (DeliveryStatus.QUEUED, 0)
    situation["webhook"].refresh_from_db()
    assert situation["webhook"].status == DeliveryStatus.FAILED  # another queue
    waiting.refresh_from_db()
    assert (waiting.status, waiting.attempts) == (DeliveryStatus.RETRY, 2)  # not failed
    events = AuditEvent.objects.filter(action="delivery.retried")
    assert sorted(int(event.target_id) for event in events) == sorted(
        [situation["email"].pk, other_failed.pk]
    )
    assert {event.actor_id for event in events} == {ops.pk}
    assert re.match(r"Emails 3 .* 1 0", row(with_retry, "queues", "Emails"))


def test_operations_retries_failed_certificates_and_webhooks(client, situation):
    staff(client, OPERATIONS)

    client.post(reverse("admin:dashboard_retry"), {"queue": "certificates"})
    client.post(reverse("admin:dashboard_retry"), {"queue": "webhooks"})

    situation["failed_certificate"].refresh_from_db()
    assert situation["failed_certificate"].status == CertificateStatus.QUEUED
    situation["stuck"].refresh_from_db()
    assert situation["stuck"].status == CertificateStatus.RENDERING  # not failed: left alone
    situation["webhook"].refresh_from_db()
    assert situation["webhook"].status == DeliveryStatus.QUEUED
    situation["email"].refresh_from_db()
    assert situation["email"].status == DeliveryStatus.FAILED
    assert AuditEvent.objects.filter(action="certificate.retried").count() == 1


def test_customer_care_may_retry_messages_but_not_certificates(client, situation):
    staff(client, CUSTOMER_CARE)

    page = client.get(reverse(INDEX)).content.decode()
    refused = client.post(reverse("admin:dashboard_retry"), {"queue": "certificates"})

    assert 'name="queue" value="emails"' in page
    assert 'name="queue" value="certificates"' not in page
    assert refused.status_code == 403
    situation["failed_certificate"].refresh_from_db()
    assert situation["failed_certificate"].status == CertificateStatus.FAILED


def test_staff_without_a_role_see_no_figures_and_may_retry_nothing(client, situation):
    staff(client)

    page = client.get(reverse(INDEX))

    assert 'id="dashboard-lines"' not in page.content.decode()
    assert 'id="dashboard-queues"' not in page.content.decode()
    assert situation["overdue"].order.order_number not in page.content.decode()
    for queue in ("emails", "webhooks", "certificates", "nothing"):
        assert client.post(reverse("admin:dashboard_retry"), {"queue": queue}).status_code == 403
    assert client.get(reverse("admin:dashboard_retry")).status_code == 405


def test_stale_heartbeats_raise_the_warning_and_fresh_ones_do_not(admin_client, situation):
    assert 'role="alert"' not in admin_client.get(reverse(INDEX)).content.decode()

    three_minutes_ago = timezone.now() - datetime.timedelta(minutes=3)
    Heartbeat.objects.filter(kind=ProcessKind.BEAT).update(last_seen=three_minutes_ago)
    Heartbeat.objects.filter(queue="pdf").update(last_seen=three_minutes_ago)
    page = text(admin_client.get(reverse(INDEX)).content)

    assert "Celery beat has not been seen for two minutes" in page
    assert "No worker has taken work from the queue “pdf” for two minutes." in page
    assert "“mail”" not in page

    Heartbeat.objects.all().delete()
    page = text(admin_client.get(reverse("admin:dashboard")).content)
    assert "Celery beat has never been seen" in page
    assert "No worker has ever taken work from the queue “webhooks”." in page


def test_a_stopped_worker_is_named_while_another_serves_its_queue(admin_client, situation):
    heartbeat_record(kind=ProcessKind.WORKER, host="celery@worker-2", queue="mail")
    Heartbeat.objects.filter(host="celery@worker-2").update(
        last_seen=timezone.now() - datetime.timedelta(minutes=5)
    )

    page = text(admin_client.get(reverse(INDEX)).content)

    assert "The worker celery@worker-2 has not been seen on “mail” since" in page
    assert "No worker has taken work" not in page


def test_the_sweep_and_the_rescuer_record_their_runs(situation):
    from apps.fulfillment.tasks import fulfil_due_task, queued_work_rescue_task

    JobRun.objects.all().delete()
    fulfil_due_task()
    queued_work_rescue_task()

    sweep = JobRun.objects.get(name="fulfil_due_task")
    # The overdue line's order has no end customer: the sweep blocks it, and says so
    assert sweep.summary["lines_blocked"] >= 1
    assert set(sweep.summary) == {"lines_shipped", "lines_blocked", "shipments"}
    assert sweep.finished_at >= sweep.started_at and sweep.host
    rescue = JobRun.objects.get(name="queued_work_rescue_task")
    assert rescue.summary["emails"] >= 1  # the email waiting to retry, whose time has come
    assert set(rescue.summary) == {"certificate_shipments", "emails", "webhooks", "uploads_purged"}


def test_job_runs_are_pruned_to_the_last_ones(settings, monkeypatch):
    from apps.core import services

    monkeypatch.setattr(services, "JOB_RUNS_KEPT", 3)
    start = timezone.now()
    for minute in range(5):
        at = start + datetime.timedelta(minutes=minute)
        job_run_record(name="fulfil_due_task", started_at=at, finished_at=at, summary={})
    job_run_record(name="queued_work_rescue_task", started_at=start, finished_at=start, summary={})

    kept = JobRun.objects.filter(name="fulfil_due_task").order_by("started_at")
    assert [run.started_at for run in kept] == [
        start + datetime.timedelta(minutes=m) for m in (2, 3, 4)
    ]
    assert JobRun.objects.filter(name="queued_work_rescue_task").count() == 1


def test_a_heartbeat_writes_over_its_row_and_forgets_hosts_gone_for_a_day():
    heartbeat_record(kind=ProcessKind.WORKER, host="celery@old", queue="mail")
    Heartbeat.objects.update(last_seen=timezone.now() - datetime.timedelta(days=2))
    heartbeat_record(kind=ProcessKind.WORKER, host="celery@new", queue="mail")
    heartbeat_record(kind=ProcessKind.WORKER, host="celery@new", queue="mail")

    assert list(Heartbeat.objects.values_list("host", flat=True)) == ["celery@new"]


def test_the_heartbeat_task_records_its_worker_and_beat_records_sending_it(monkeypatch):
    from celery.signals import before_task_publish

    from apps.core.heartbeats import HEARTBEAT_TASK
    from apps.core.tasks import heartbeat_task

    heartbeat_task.apply(routing_key="pdf")  # as a worker on the pdf queue runs it
    before_task_publish.send(sender=HEARTBEAT_TASK, body=(), headers={})
    before_task_publish.send(sender="apps.fulfillment.tasks.fulfil_due_task", body=(), headers={})

    rows = list(Heartbeat.objects.values_list("kind", "host", "queue"))
    assert ("worker", socket.gethostname(), "pdf") in rows
    assert [row for row in rows if row[0] == "beat"] and len(rows) == 2


def test_a_blocked_lines_reason_filters_the_line_list(admin_client):
    OrderLineFactory(status=LineStatus.BLOCKED, status_reason=REASON)
    OrderLineFactory(status=LineStatus.BLOCKED, status_reason="something else")
    ShipmentFactory()

    listed = admin_client.get(
        reverse("admin:orders_orderline_changelist"),
        {"status__exact": "blocked", "reason": REASON},
    )

    assert listed.context["cl"].result_count == 1
