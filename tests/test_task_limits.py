"""No task holds a worker forever, and a task stopped by its time limit loses nothing.

Every task of the project has a soft time limit below its hard one, and a hard one within
MAX_TIME_LIMIT; a task that works on rows under a lease ends before the lease does, so no row
is handed to a second worker while a first still works on it. A task interrupted at its soft
limit (Celery raises SoftTimeLimitExceeded in it) puts its row back for another try, or leaves
it to the rescuer, and stops.
"""

import datetime
import smtplib

import pytest
import time_machine
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.utils import timezone

from apps.core.actors import Job
from apps.entitlements import services as entitlement_services
from apps.entitlements.models import Certificate, CertificateStatus
from apps.fulfillment import services as fulfillment_services
from apps.fulfillment.services import order_lines_fulfil_due
from apps.fulfillment.tasks import queued_work_rescue_task
from apps.orders.models import LineStatus
from apps.outbox.models import Delivery, DeliveryStatus
from apps.outbox.services import deliveries_send
from config.celery_app import app
from tests.fulfillment.helpers import order_with_lines
from tests.test_beat import project_tasks

# Past this, a stuck task has held its worker too long, whatever its work.
MAX_TIME_LIMIT = 15 * 60
# Tasks that work on rows under a lease, and the setting that says how long it is.
LEASED = {
    "apps.entitlements.tasks.certificate_render_task": "CERTIFICATE_RENDER_LEASE",
    "apps.fulfillment.tasks.shipment_documents_task": "CERTIFICATE_RENDER_LEASE",
    "apps.outbox.tasks.email_deliveries_send_task": "EMAIL_SEND_LEASE",
    "apps.outbox.tasks.webhook_deliveries_send_task": "EMAIL_SEND_LEASE",
}
NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


def limits(task) -> tuple[float | None, float | None]:
    """(soft, hard) as a worker applies them: the task's own, else the settings'."""
    return (
        task.soft_time_limit or app.conf.task_soft_time_limit,
        task.time_limit or app.conf.task_time_limit,
    )


def test_every_task_has_a_soft_limit_below_a_bounded_hard_limit():
    for name, task in project_tasks().items():
        soft, hard = limits(task)
        assert soft and hard, f"{name} has no time limit"
        assert soft < hard <= MAX_TIME_LIMIT, f"{name}: soft {soft}s, hard {hard}s"


def test_a_task_on_leased_rows_ends_before_their_lease_does():
    tasks = project_tasks()
    for name, lease in LEASED.items():
        assert limits(tasks[name])[1] < getattr(settings, lease), f"{name} outlasts {lease}"


def _stuck(*args, **kwargs):
    raise SoftTimeLimitExceeded()


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_a_render_out_of_time_goes_back_for_a_retry_and_its_email_waits(smtp, monkeypatch):
    # Given a shipment of two certificates whose first render never ends (the worker's soft
    # limit interrupts it)
    order_with_lines(dates=[NOW.date(), NOW.date()], emails=["buyer@northwind.example"])
    monkeypatch.setattr(entitlement_services, "certificate_pdf", _stuck)

    # When the sweep ships it and the shipment's documents task runs
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    monkeypatch.undo()

    # Then the stuck certificate is queued again for later, counted as an attempt, and the
    # task stopped there: the other one waits untouched, and no email left without them
    stuck, other = Certificate.objects.order_by("-attempts")
    assert stuck.status == CertificateStatus.QUEUED and stuck.attempts == 1
    assert stuck.lease_expires_at is None and stuck.next_attempt_at > timezone.now()
    assert stuck.last_error.startswith("SoftTimeLimitExceeded")
    assert other.status == CertificateStatus.QUEUED and other.attempts == 0
    assert smtp.messages == []

    # And once its next attempt is due, the rescuer renders both and the email goes, once
    with time_machine.travel(stuck.next_attempt_at, tick=False):
        queued_work_rescue_task()
    assert set(Certificate.objects.values_list("status", flat=True)) == {CertificateStatus.READY}
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["buyer@northwind.example"]
    assert len(smtp.messages[0].get_payload()) == 1 + 2  # the text and both certificates


@pytest.mark.django_db
@time_machine.travel(NOW, tick=False)
def test_a_sweep_out_of_time_leaves_its_orders_due_not_blocked(monkeypatch):
    order = order_with_lines(dates=[NOW.date()])
    monkeypatch.setattr(fulfillment_services, "entitlements_create_for_lines", _stuck)

    with pytest.raises(SoftTimeLimitExceeded):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    monkeypatch.undo()

    line = order.lines.get()
    assert line.status == LineStatus.OPEN and line.status_reason == ""
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))  # the next sweep
    line.refresh_from_db()
    assert line.status == LineStatus.FULFILLED


@pytest.mark.django_db(transaction=True)
@time_machine.travel(NOW, tick=False)
def test_a_send_out_of_time_mid_message_drops_the_connection_and_loses_no_email(
    smtp, settings, monkeypatch
):
    # Given two emails of one shipment, queued
    settings.EMAIL_TIMEOUT = 5
    addresses = ("a@northwind.example", "b@northwind.example")
    order_with_lines(dates=[NOW.date()], emails=addresses)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    smtp.messages.clear()
    Delivery.objects.update(status=DeliveryStatus.QUEUED, attempts=0)
    first, second = Delivery.objects.order_by("pk")

    # When the task's time runs out half-way through the first email's text
    send = smtplib.SMTP.sendmail

    def half_then_out_of_time(smtp_connection, from_address, recipients, data, *args):
        if recipients == [first.recipient]:
            smtp_connection.ehlo_or_helo_if_needed()
            smtp_connection.mail(from_address)
            smtp_connection.rcpt(recipients[0])
            smtp_connection.docmd("data")
            smtp_connection.send(data[: len(data) // 2])
            raise SoftTimeLimitExceeded()
        return send(smtp_connection, from_address, recipients, data, *args)

    monkeypatch.setattr(smtplib.SMTP, "sendmail", half_then_out_of_time)
    with pytest.raises(SoftTimeLimitExceeded):
        deliveries_send(delivery_ids=[first.pk, second.pk])
    monkeypatch.undo()

    # Then the batch stopped: the first email waits for a retry, the second for its lease
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.status == DeliveryStatus.RETRY
    assert second.status == DeliveryStatus.SENDING
    assert smtp.messages == []

    # And later both go out whole, once each, on a connection of their own
    later = NOW + datetime.timedelta(hours=1)
    with time_machine.travel(later, tick=False):
        queued_work_rescue_task()
    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == list(addresses)
    assert all(m["Subject"] and m.get_payload() for m in smtp.messages)
    assert set(Delivery.objects.values_list("status", flat=True)) == {DeliveryStatus.SENT}
