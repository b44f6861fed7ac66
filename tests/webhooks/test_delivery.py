"""Webhook events posted to a real HTTP server: signed, retried, timed out, in order."""

import datetime

import pytest
from django.utils import timezone

from apps.core.actors import Job
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Entitlement
from apps.fulfillment.services import order_lines_fulfil_due
from apps.outbox.models import Channel, Delivery, DeliveryStatus
from apps.outbox.services import deliveries_due, deliveries_send, delivery_resend
from tests.fulfillment.helpers import order_with_lines, today
from tests.webhooks.conftest import endpoint_for, webhooks_send

pytestmark = pytest.mark.django_db


def ship_one_line():
    order = order_with_lines(dates=[today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    return order, Entitlement.objects.get(order_line__order=order)


def send_due():
    return webhooks_send()


def make_due(deliveries=None):
    rows = Delivery.objects.filter(channel=Channel.WEBHOOK)
    if deliveries is not None:
        rows = rows.filter(pk__in=[d.pk for d in deliveries])
    rows.update(next_attempt_at=timezone.now() - datetime.timedelta(seconds=1))


def test_each_event_is_signed_with_the_endpoints_secret(receiver):
    endpoint, secret = endpoint_for(receiver.url, events=["entitlement.created"])
    order, entitlement = ship_one_line()

    send_due()

    (request,) = receiver.received
    assert request.path == "/hooks/keyship"
    assert request.headers["Content-Type"] == "application/json"
    assert request.signature_valid(secret)
    assert not request.signature_valid(secret + "x")
    event = request.event
    assert list(event) == ["id", "type", "created", "data"]
    assert event["type"] == "entitlement.created"
    assert event["id"].startswith("evt_") and request.headers["Keyship-Event-Id"] == event["id"]
    assert event["data"]["ssrn"] == entitlement.ssrn
    assert event["data"]["order_number"] == order.order_number
    assert Delivery.objects.get(endpoint=endpoint).status == DeliveryStatus.SENT


def test_a_500_is_tried_again_after_a_while_with_the_same_event_id(receiver):
    receiver.answers.extend([500, 200])
    endpoint_for(receiver.url, events=["entitlement.created"])
    ship_one_line()

    send_due()
    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert delivery.status == DeliveryStatus.RETRY
    assert "HTTP 500" in delivery.last_error
    assert delivery.next_attempt_at > timezone.now() + datetime.timedelta(seconds=20)
    send_due()  # not due yet: nothing is sent
    assert len(receiver.received) == 1

    make_due()
    send_due()

    first, second = receiver.received
    assert first.event["id"] == second.event["id"] == second.headers["Keyship-Event-Id"]
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.SENT, 2)


def test_a_slow_endpoint_times_out_and_is_tried_again(receiver, settings):
    settings.WEBHOOK_TIMEOUT = 0.5
    receiver.answers.append(("slow", 3, 200))
    endpoint_for(receiver.url, events=["entitlement.created"])
    ship_one_line()

    started = timezone.now()
    send_due()

    assert timezone.now() - started < datetime.timedelta(seconds=2.5)
    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert delivery.status == DeliveryStatus.RETRY
    assert "timed out" in delivery.last_error.lower()
    make_due()
    send_due()
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.SENT
    assert receiver.received[0].event["id"] == receiver.received[-1].event["id"]


def test_redirects_are_not_followed(receiver):
    receiver.answers.append(302)
    endpoint_for(receiver.url, events=["entitlement.created"])
    ship_one_line()

    send_due()

    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert delivery.status == DeliveryStatus.RETRY and "HTTP 302" in delivery.last_error


def test_a_later_event_of_an_entitlement_waits_while_an_earlier_one_retries(receiver):
    receiver.answers.append(500)
    endpoint_for(receiver.url, events=["entitlement.created", "activation.created"])
    _, entitlement = ship_one_line()
    send_due()  # created: 500, waits to retry
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=Job("t"))
    created, activated = Delivery.objects.filter(channel=Channel.WEBHOOK).order_by("pk")

    deliveries_send(delivery_ids=[activated.pk], channel=Channel.WEBHOOK)
    send_due()

    assert [r.event["type"] for r in receiver.received] == ["entitlement.created"]
    activated.refresh_from_db()
    assert activated.status == DeliveryStatus.QUEUED and activated.attempts == 0
    # Nor does the rescuer hand it out while it waits (its batch stays for work to do).
    later = timezone.now() + datetime.timedelta(days=1)
    assert deliveries_due(now=later).get(Channel.WEBHOOK) == [created.pk]

    make_due([created])
    send_due()

    assert [r.event["type"] for r in receiver.received] == [
        "entitlement.created",
        "entitlement.created",
        "activation.created",
    ]
    assert receiver.received[-1].event["data"]["serial_number"] == "SN-1"
    sent = Delivery.objects.filter(channel=Channel.WEBHOOK).values_list("status", flat=True)
    assert set(sent) == {DeliveryStatus.SENT}


def test_an_event_that_failed_for_good_no_longer_holds_the_later_ones(receiver):
    receiver.default = 500
    endpoint_for(receiver.url, events=["entitlement.created", "activation.created"])
    _, entitlement = ship_one_line()
    Delivery.objects.filter(channel=Channel.WEBHOOK).update(attempts=8)  # its last attempt
    make_due()
    send_due()
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=Job("t"))
    receiver.default = 200

    send_due()

    created, activated = Delivery.objects.filter(channel=Channel.WEBHOOK).order_by("pk")
    assert created.status == DeliveryStatus.FAILED
    assert activated.status == DeliveryStatus.SENT


def test_events_of_other_entitlements_do_not_wait(receiver):
    receiver.answers.append(500)
    endpoint_for(receiver.url, events=["entitlement.created"])
    order_with_lines(dates=[today(), today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    send_due()

    statuses = sorted(
        Delivery.objects.filter(channel=Channel.WEBHOOK).values_list("status", flat=True)
    )
    assert statuses == [DeliveryStatus.RETRY, DeliveryStatus.SENT]


def test_an_https_endpoint_whose_certificate_does_not_verify_is_not_posted_to(receiver, tmp_path):
    """The connection to the checked address still verifies the certificate against the
    host name: a self-signed certificate is refused, and the event waits to retry."""
    import ssl
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    from tests.webhooks.tls import self_signed

    cert, key = self_signed(tmp_path, "localhost")
    posted = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            posted.append(self.path)
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        endpoint_for(f"https://localhost:{server.server_port}/hook", events=["line.shipped"])
        ship_one_line()
        send_due()
    finally:
        server.shutdown()
        server.server_close()

    assert posted == []
    delivery = Delivery.objects.get(channel=Channel.WEBHOOK)
    assert delivery.status == DeliveryStatus.RETRY
    assert "CERTIFICATE_VERIFY_FAILED" in delivery.last_error


def test_a_resent_event_goes_to_its_endpoint_again_with_the_same_id(receiver, admin_user):
    # The ERP answered 2xx but lost the event: Operations resends it from the queue.
    endpoint, secret = endpoint_for(receiver.url, events=["entitlement.created"])
    ship_one_line()
    send_due()
    delivered = Delivery.objects.get(endpoint=endpoint)

    resend = delivery_resend(delivery=delivered, actor=admin_user, reason="the ERP lost it")
    send_due()

    resend.refresh_from_db()
    assert resend.status == DeliveryStatus.SENT, resend.last_error
    first, again = receiver.received
    assert again.signature_valid(secret) and again.event == first.event
