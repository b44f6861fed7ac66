"""The demo (`make run`): seed_demo registers an endpoint for every event, pointing at a
receiver served with DEBUG on, which checks each signature and keeps each event."""

import json
import time

import pytest
from django.core.management import call_command
from django.test import RequestFactory

from apps.outbox.demo import demo_webhook_receiver
from apps.outbox.events import EVENT_TYPES
from apps.outbox.models import WebhookEndpoint
from apps.outbox.webhooks import webhook_body, webhook_signature
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db


def test_seed_demo_registers_the_demo_endpoint_once(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True

    call_command("seed_demo", "--force")
    call_command("seed_demo", "--force")

    endpoint = WebhookEndpoint.objects.get()
    assert endpoint.url == settings.SITE_URL.rstrip("/") + "/demo/webhooks/"
    assert endpoint.events == list(EVENT_TYPES) and endpoint.account_ids == []


def test_without_private_targets_allowed_the_demo_has_no_endpoint(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = False

    call_command("seed_demo", "--force")

    assert not WebhookEndpoint.objects.exists()


def test_the_demo_receiver_keeps_signed_events_and_refuses_the_others(settings, tmp_path):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.VAR_DIR = tmp_path
    call_command("seed_demo", "--force")
    secret = WebhookEndpoint.objects.get().secret
    event = {"id": "evt_1", "type": "webhook.test", "created": "2026-12-01T09:00:00Z", "data": {}}
    body = webhook_body(event)

    def post(signature):
        request = RequestFactory().post(
            "/demo/webhooks/",
            body,
            content_type="application/json",
            headers={"Keyship-Signature": signature},
        )
        return demo_webhook_receiver(request)

    assert (
        post(
            webhook_signature(secret="whsec_other", timestamp=int(time.time()), body=body)
        ).status_code
        == 400
    )
    assert (
        post(
            webhook_signature(secret=secret, timestamp=int(time.time()) - 3600, body=body)
        ).status_code
        == 400
    )
    assert (
        post(webhook_signature(secret=secret, timestamp=int(time.time()), body=body)).status_code
        == 200
    )

    (kept,) = (tmp_path / "webhooks").iterdir()
    assert json.loads(kept.read_text()) == event


def test_the_demo_receiver_writes_inside_its_folder_whatever_the_event_says(settings, tmp_path):
    # Anyone who registers an endpoint whose URL ends in /demo/webhooks/ (any host) holds a
    # secret the receiver accepts: what a signed body says must not choose where it writes.
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.VAR_DIR = tmp_path / "var"
    endpoint, secret = endpoint_for("https://93.184.215.14/demo/webhooks/")
    event = {"id": "/../../../escaped", "type": "x/..", "created": "../..", "data": {}}
    body = webhook_body(event)
    request = RequestFactory().post(
        "/demo/webhooks/",
        body,
        content_type="application/json",
        headers={
            "Keyship-Signature": webhook_signature(
                secret=secret, timestamp=int(time.time()), body=body
            )
        },
    )

    assert demo_webhook_receiver(request).status_code == 200

    written = [path for path in tmp_path.rglob("*") if path.is_file()]
    assert [path.parent for path in written] == [tmp_path / "var" / "webhooks"]
    assert json.loads(written[0].read_text()) == event


def test_the_demo_receiver_refuses_a_signed_body_that_is_no_event(settings, tmp_path):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    settings.VAR_DIR = tmp_path
    _endpoint, secret = endpoint_for("https://93.184.215.14/demo/webhooks/")
    for body in (b"[1, 2]", b'{"id": "evt_1"}'):
        request = RequestFactory().post(
            "/demo/webhooks/",
            body,
            content_type="application/json",
            headers={
                "Keyship-Signature": webhook_signature(
                    secret=secret, timestamp=int(time.time()), body=body
                )
            },
        )
        assert demo_webhook_receiver(request).status_code == 400
