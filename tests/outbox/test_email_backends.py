"""Fulfillment Emails leave through whatever EMAIL_BACKEND names: a deployment's own SMTP
backend (a DKIM signer), or an email service provider through django-anymail, whose message
id the delivery row keeps for the ESP's tracking events."""

import datetime
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import mail

from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus, TrackingStatus
from tests.core.test_production_settings import PRODUCTION_ENV, _run
from tests.outbox import mailgun as mg
from tests.outbox.conftest import ship_order

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESSES = ("buyer@northwind.example", "it@northwind.example")


def _deliveries():
    rows = Delivery.objects.filter(kind=DeliveryKind.FULFILLMENT).order_by("recipient")
    return {row.recipient: row for row in rows}


def test_a_backend_of_the_deployment_s_own_signs_what_the_outbox_sends(smtp, settings):
    settings.EMAIL_BACKEND = "tests.outbox.backends.SigningSmtpBackend"

    ship_order()

    delivery = Delivery.objects.get(kind=DeliveryKind.FULFILLMENT)
    assert delivery.status == DeliveryStatus.SENT
    [received] = smtp.messages
    assert received["X-Envelope-To"] == "buyer@northwind.example"
    assert received["DKIM-Signature"].startswith("v=1; a=rsa-sha256; d=keyship.example")
    assert received["Message-ID"] == delivery.message_id


def test_with_anymail_each_row_keeps_the_esp_s_message_id(settings, mailoutbox):
    settings.EMAIL_BACKEND = "anymail.backends.test.EmailBackend"

    ship_order(emails=ADDRESSES)

    rows = _deliveries()
    assert [rows[a].status for a in ADDRESSES] == [DeliveryStatus.SENT] * 2
    # The test ESP numbers the messages it took, from 0.
    sent = {message.to[0]: str(index) for index, message in enumerate(mail.outbox)}
    assert {a: rows[a].esp_message_id for a in ADDRESSES} == sent
    assert sorted(sent.values()) == ["0", "1"]


class _MailgunApi(BaseHTTPRequestHandler):
    """Mailgun's sending API as its documentation answers: 200 with the message's id."""

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.calls.append((self.path, self.headers.get("Authorization"), body))
        reply = {
            "id": f"<20261201090000.{len(self.server.calls)}.5817@keyship.example>",
            "message": "Queued. Thank you.",
        }
        data = json.dumps(reply).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def mailgun_api(settings):
    """Mailgun's API on this machine, with anymail's Mailgun backend pointed at it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _MailgunApi)
    server.calls = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    settings.EMAIL_BACKEND = "anymail.backends.mailgun.EmailBackend"
    settings.ANYMAIL = {
        "MAILGUN_API_KEY": "test-mailgun-api-key",
        "MAILGUN_API_URL": f"http://127.0.0.1:{server.server_port}/v3",
        "MAILGUN_WEBHOOK_SIGNING_KEY": mg.SIGNING_KEY,
    }
    try:
        yield server.calls
    finally:
        server.shutdown()
        server.server_close()


def test_sent_through_mailgun_and_its_bounce_comes_back_to_the_row(client, mailgun_api):
    ship_order()

    delivery = Delivery.objects.get(kind=DeliveryKind.FULFILLMENT)
    assert delivery.status == DeliveryStatus.SENT
    assert delivery.esp_message_id == "<20261201090000.1.5817@keyship.example>"
    [(path, auth, body)] = mailgun_api
    assert path == "/v3/keyship.example/messages"
    assert auth and auth.startswith("Basic ")
    assert b"buyer@northwind.example" in body

    at = datetime.datetime.now(datetime.UTC)
    response = mg.post(
        client, mg.permanent_failure(delivery.esp_message_id, delivery.recipient, at)
    )

    assert response.status_code == 200
    delivery.refresh_from_db()
    assert delivery.tracking_status == TrackingStatus.BOUNCED


def test_the_environment_names_the_backend_and_the_esp_s_keys():
    shown = (
        "from django.conf import settings as s; print(s.EMAIL_BACKEND); print(sorted(s.ANYMAIL))"
    )
    env = {
        **PRODUCTION_ENV,
        "EMAIL_URL": "smtp://mail.example.com:587",
        "EMAIL_BACKEND": "anymail.backends.mailgun.EmailBackend",
        "ANYMAIL_MAILGUN_API_KEY": "key-from-the-environment",
        "ANYMAIL_MAILGUN_WEBHOOK_SIGNING_KEY": "signing-key-from-the-environment",
    }
    chosen = _run("shell", "--no-imports", "-c", shown, **env)
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.split("\n")[:2] == [
        "anymail.backends.mailgun.EmailBackend",
        "['MAILGUN_API_KEY', 'MAILGUN_WEBHOOK_SIGNING_KEY']",
    ]

    del env["EMAIL_BACKEND"]
    default = _run("shell", "--no-imports", "-c", shown, **env)
    assert default.stdout.startswith("django.core.mail.backends.smtp.EmailBackend\n")

    # An empty line left in .env (EMAIL_BACKEND=) keeps EMAIL_URL's backend.
    empty = _run("shell", "--no-imports", "-c", shown, **{**env, "EMAIL_BACKEND": ""})
    assert empty.stdout.startswith("django.core.mail.backends.smtp.EmailBackend\n")
