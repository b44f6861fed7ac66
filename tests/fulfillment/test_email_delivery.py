"""Fulfillment Emails over a real SMTP server: retries on 4xx, failure on 5xx, rescue."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from apps.core.actors import Job
from apps.entitlements.models import CertificateStatus, Entitlement
from apps.entitlements.services import certificate_render
from apps.fulfillment.services import order_lines_fulfil_due, queued_work_rescue
from apps.notifications import services
from apps.notifications.emails import ShipmentContents
from apps.notifications.models import ShipmentEmail
from apps.outbox.models import Delivery, DeliveryStatus
from apps.outbox.services import deliveries_send, delivery_resend, delivery_send
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import CertificateFactory, EntitlementFactory
from tests.factories.notifications import shipment_of
from tests.factories.orders import ShipmentFactory
from tests.fulfillment.helpers import order_with_lines
from tests.smtp import SmtpServer, free_port

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)


def ship_one_order():
    order_with_lines(dates=[NOW.date()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    return Delivery.objects.get()


@time_machine.travel(NOW, tick=False)
def test_a_4xx_reply_is_retried_later_and_then_sent_once(smtp):
    smtp.refusals.append("451 4.3.0 Mailbox temporarily unavailable")

    delivery = ship_one_order()

    assert delivery.status == DeliveryStatus.RETRY
    assert delivery.attempts == 1 and "451" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now()
    assert smtp.messages == []
    assert queued_work_rescue()[1] == {}  # not before its time
    later = delivery.next_attempt_at + datetime.timedelta(seconds=1)
    assert queued_work_rescue(now=later)[1] == {"email": [delivery.pk]}
    with time_machine.travel(later, tick=False):
        delivery = delivery_send(delivery_id=delivery.pk)
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 2
    assert len(smtp.messages) == 1


@time_machine.travel(NOW, tick=False)
def test_a_5xx_reply_fails_the_delivery_for_good(smtp):
    smtp.refusals.append("550 5.1.1 No such user")

    delivery = ship_one_order()

    assert delivery.status == DeliveryStatus.FAILED
    assert "550" in delivery.last_error
    assert queued_work_rescue(now=NOW + datetime.timedelta(days=1))[1] == {}
    assert delivery_send(delivery_id=delivery.pk).status == DeliveryStatus.FAILED
    assert smtp.messages == []


@time_machine.travel(NOW, tick=False)
def test_an_unreachable_server_is_retried_and_the_attempts_are_bounded(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", free_port()  # nothing listens there

    delivery = ship_one_order()
    assert delivery.status == DeliveryStatus.RETRY
    for _ in range(20):
        with time_machine.travel(delivery.next_attempt_at, tick=False):
            delivery = delivery_send(delivery_id=delivery.pk)
        if delivery.status == DeliveryStatus.FAILED:
            break

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.attempts == 9
    assert "ConnectionRefusedError" in delivery.last_error


@time_machine.travel(NOW, tick=False)
def test_each_answer_of_the_server_lands_on_its_own_email_in_a_batch(smtp):
    smtp.refusals.extend([None, "550 5.1.1 No such user", None])
    product = ProductFactory(description=".NET runtime support for one gateway.")
    addresses = ("a@northwind.example", "b@northwind.example", "c@northwind.example")
    order_with_lines(dates=[NOW.date()], emails=addresses, product=product)

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    rows = {d.recipient: d for d in Delivery.objects.all()}
    assert [rows[a].status for a in addresses] == ["sent", "failed", "sent"]
    assert "550" in rows["b@northwind.example"].last_error
    assert rows["a@northwind.example"].last_error == rows["c@northwind.example"].last_error == ""
    assert [m["X-Envelope-To"] for m in smtp.messages] == [addresses[0], addresses[2]]
    # A line that starts with a dot arrives whole (SMTP doubles the dot on the way).
    for message in smtp.messages:
        lines = message.get_body(("plain",)).get_content().splitlines()
        assert ".NET runtime support for one gateway." in lines


@time_machine.travel(NOW, tick=False)
def test_a_connection_the_server_closed_is_opened_again(settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    with SmtpServer() as first:
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", first.port
        assert ship_one_order().status == DeliveryStatus.SENT  # the connection stays open
    # The server went away and came back (a restart, an idle timeout): the kept connection
    # is dead, and the next email goes over a new one, at its first attempt.
    with SmtpServer(port=first.port) as second:
        order_with_lines(dates=[NOW.date()], emails=("later@northwind.example",))
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

        later = Delivery.objects.get(recipient="later@northwind.example")
        assert later.status == DeliveryStatus.SENT and later.attempts == 1
        assert [m["X-Envelope-To"] for m in second.sink.messages] == [later.recipient]


@time_machine.travel(NOW, tick=False)
def test_a_batch_cut_short_sends_the_rest_once_its_lease_is_over(smtp, settings, monkeypatch):
    addresses = ("a@northwind.example", "b@northwind.example")
    order_with_lines(dates=[NOW.date()], emails=addresses)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    smtp.messages.clear()
    Delivery.objects.update(status=DeliveryStatus.QUEUED, attempts=0)
    first, second = Delivery.objects.order_by("pk")
    build = services.fulfillment_message

    def stop_at_the_second(delivery, contents):
        if delivery.pk == second.pk:
            raise SystemExit("the worker is told to stop")
        return build(delivery, contents)

    # The first email is accepted, and the worker stops while it builds the second.
    monkeypatch.setattr(services, "fulfillment_message", stop_at_the_second)
    with pytest.raises(SystemExit):
        deliveries_send(delivery_ids=[first.pk, second.pk])
    monkeypatch.undo()

    assert Delivery.objects.get(pk=first.pk).status == DeliveryStatus.SENT
    lease_over = NOW + datetime.timedelta(seconds=settings.EMAIL_SEND_LEASE + 1)
    with time_machine.travel(lease_over, tick=False):
        assert delivery_send(delivery_id=second.pk).status == DeliveryStatus.SENT
    assert [m["X-Envelope-To"] for m in smtp.messages] == list(addresses)


@time_machine.travel(NOW, tick=False)
def test_a_shipments_email_is_rendered_once_and_every_address_gets_it(smtp):
    addresses = ("a@northwind.example", "b@northwind.example", "c@northwind.example")
    order_with_lines(dates=[NOW.date()], emails=addresses, language="de")

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    (email,) = ShipmentEmail.objects.all()
    assert email.language == "de" and "Aktivierungscode" in email.text
    # Stored, the bodies are sealed like the activation codes they carry.
    code = Entitlement.objects.get().activation_code
    assert code in email.text and code in email.html
    assert code not in email.text_sealed + email.html_sealed
    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == sorted(addresses)
    for message in smtp.messages:
        assert message["Subject"].strip() == email.subject  # folded: "Subject:" then the words
        assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == email.text


@time_machine.travel(NOW, tick=False)
def test_a_resend_sends_the_email_as_it_was_sent(smtp, admin_user):
    delivery = ship_one_order()
    product = shipment_of(delivery).lines.get().product
    product.description = "A description written after the order shipped."
    product.save(update_fields=["description"])

    delivery_resend(delivery=delivery, actor=admin_user, reason="customer lost the email")

    first, again = (m.get_body(("plain",)).get_content() for m in smtp.messages)
    assert again == first and "Intrusion prevention for one gateway." in again


@time_machine.travel(NOW, tick=False)
def test_sending_twice_sends_once(smtp):
    delivery = ship_one_order()

    delivery_send(delivery_id=delivery.pk)
    delivery_send(delivery_id=delivery.pk)

    assert len(smtp.messages) == 1


@time_machine.travel(NOW, tick=False)
def test_a_delivery_whose_worker_died_is_rescued_after_its_lease(smtp):
    delivery = ship_one_order()
    smtp.messages.clear()
    # As a worker killed before the server accepted the message leaves it.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING,
        sent_at=None,
        lease_expires_at=NOW + datetime.timedelta(minutes=3),
    )

    assert delivery_send(delivery_id=delivery.pk).status == DeliveryStatus.SENDING  # still leased
    assert queued_work_rescue(now=NOW + datetime.timedelta(minutes=4))[1] == {
        "email": [delivery.pk]
    }
    with time_machine.travel(NOW + datetime.timedelta(minutes=4), tick=False):
        assert delivery_send(delivery_id=delivery.pk).status == DeliveryStatus.SENT
    assert len(smtp.messages) == 1


@time_machine.travel(NOW, tick=False)
def test_a_resend_is_a_new_delivery_with_its_reason(smtp, admin_user):
    delivery = ship_one_order()

    resend = delivery_resend(delivery=delivery, actor=admin_user, reason="customer lost the email")

    assert resend.pk != delivery.pk and resend.resend_of == delivery
    assert Delivery.objects.get(pk=resend.pk).status == DeliveryStatus.SENT
    assert len(smtp.messages) == 2
    assert smtp.messages[0]["Message-ID"] != smtp.messages[1]["Message-ID"]


def test_a_batch_of_emails_reads_its_shipments_in_a_fixed_number_of_queries(
    django_assert_max_num_queries,
):
    shipments = []
    for _ in range(5):
        shipment = ShipmentFactory()
        for number in range(1, 4):
            entitlement = EntitlementFactory(
                order_line__order=shipment.order,
                order_line__line_number=number,
                order_line__shipment=shipment,
            )
            certificate_render(certificate_id=CertificateFactory(entitlement=entitlement).pk)
        shipments.append(shipment.pk)

    # Shipments and their orders, rendered emails, terms, entitlements, accounts, keys,
    # certificates.
    with django_assert_max_num_queries(7):
        contents = ShipmentContents(shipments)

    assert all(len(contents[pk][1]) == 3 for pk in shipments)


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("license_type", ["subscription", "perpetual"])
def test_an_email_waits_for_its_certificates_and_goes_once_they_are_rendered(
    smtp, settings, license_type
):
    # A subscription's certificate is found through its term; a perpetual one has none.
    months = 12 if license_type == "subscription" else None
    product = ProductFactory(license_type=license_type, term_months=months)
    order_with_lines(dates=[NOW.date()], product=product)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    delivery = Delivery.objects.get()
    smtp.messages.clear()
    certificate = shipment_of(delivery).lines.get().entitlement.certificates.get()
    certificate.status = CertificateStatus.QUEUED
    certificate.save(update_fields=["status"])
    Delivery.objects.filter(pk=delivery.pk).update(status=DeliveryStatus.QUEUED, attempts=0)

    delivery = delivery_send(delivery_id=delivery.pk)

    assert delivery.status == DeliveryStatus.QUEUED and delivery.attempts == 0
    assert delivery.next_attempt_at == timezone.now() + datetime.timedelta(
        seconds=settings.EMAIL_DOCUMENTS_WAIT
    )
    assert smtp.messages == []
    certificate_render(certificate_id=certificate.pk)
    delivery = delivery_send(delivery_id=delivery.pk)
    assert delivery.status == DeliveryStatus.SENT and delivery.attempts == 1
    assert [m["X-Envelope-To"] for m in smtp.messages] == [delivery.recipient]


@time_machine.travel(NOW, tick=False)
def test_a_delivery_that_stopped_its_worker_at_every_attempt_fails_instead_of_looping(smtp):
    delivery = ship_one_order()
    smtp.messages.clear()
    # As a message left by a worker killed during its ninth attempt, past its lease.
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.SENDING,
        sent_at=None,
        attempts=9,
        lease_expires_at=NOW - datetime.timedelta(minutes=1),
    )

    delivery = delivery_send(delivery_id=delivery.pk)

    assert delivery.status == DeliveryStatus.FAILED and delivery.attempts == 9
    assert "worker stopped during each of its 9 attempts" in delivery.last_error
    assert smtp.messages == []
    assert queued_work_rescue(now=NOW + datetime.timedelta(days=1))[1] == {}
