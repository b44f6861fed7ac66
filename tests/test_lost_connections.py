"""A database connection lost while a worker holds a row does not leave the row stuck.

PostgreSQL restarted, a failover, or an operator's pg_terminate_backend: the worker has just
rendered a certificate, or the SMTP server has just accepted an email, and the connection it
would record that on is gone. The worker opens a new one and records it, instead of leaving
the row leased until its lease runs out (the PDF rendered again, the email sent twice).
"""

import psycopg
import pytest
from django.db import connection

from apps.core.actors import Job
from apps.entitlements import services as entitlement_services
from apps.entitlements.models import Certificate, CertificateStatus
from apps.fulfillment import services as fulfillment_services
from apps.fulfillment.services import order_lines_fulfil_due, shipment_documents_prepare
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from apps.outbox.services import deliveries_send
from tests.factories.notifications import shipment_of
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _workers_asleep(monkeypatch):
    """The shipment's documents and email wait for the test, as for a busy worker (the
    tasks run eagerly here, on commit)."""
    monkeypatch.setattr(fulfillment_services, "_after_commit", lambda report: None)


def _terminate(pid: int) -> None:
    """Terminate the server process of a connection from another one."""
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params.get("host"),
        port=params.get("port"),
        user=params.get("user"),
        password=params.get("password"),
        dbname=params["dbname"],
        autocommit=True,
    ) as other:
        other.execute("SELECT pg_terminate_backend(%s)", [pid])


def test_a_certificate_rendered_while_the_connection_was_lost_is_stored(monkeypatch):
    order_with_lines(dates=[today()], emails=["one@northwind.example"])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    certificate = Certificate.objects.get()
    renders = []
    original = entitlement_services.certificate_pdf

    def render_then_lose_the_connection(certificate):
        renders.append(certificate.pk)
        pdf = original(certificate)
        _terminate(connection.connection.info.backend_pid)
        return pdf

    monkeypatch.setattr(entitlement_services, "certificate_pdf", render_then_lose_the_connection)

    entitlement_services.certificate_render(certificate_id=certificate.pk)

    certificate.refresh_from_db()
    assert certificate.status == CertificateStatus.READY and certificate.file
    assert certificate.lease_expires_at is None and renders == [certificate.pk]


def test_an_email_accepted_while_the_connection_was_lost_is_marked_sent(smtp, monkeypatch):
    order_with_lines(dates=[today()], emails=["one@northwind.example"])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    delivery = Delivery.objects.get(kind=DeliveryKind.FULFILLMENT)
    shipment_documents_prepare(shipment_id=shipment_of(delivery).pk)
    accept = smtp.handle_DATA
    connection.ensure_connection()
    pid = connection.connection.info.backend_pid  # the test's (the worker's) connection

    async def accept_then_lose_the_connection(server, session, envelope):
        answer = await accept(server, session, envelope)
        _terminate(pid)
        return answer

    monkeypatch.setattr(smtp, "handle_DATA", accept_then_lose_the_connection)

    deliveries_send(delivery_ids=[delivery.pk])

    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT and delivery.lease_expires_at is None
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["one@northwind.example"]
