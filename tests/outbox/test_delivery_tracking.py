"""Delivery tracking through Mailgun's signed webhook: what the ESP reports shows on the
delivery row and the order page; a call that is not Mailgun's changes nothing."""

import base64
import datetime

import pytest
from django.test import Client
from django.urls import reverse

from apps.core.models import AuditEvent
from apps.outbox.models import TrackingStatus
from tests.factories.accounts import UserFactory
from tests.outbox import mailgun as mg
from tests.outbox.mailgun import WEBHOOK_URL, post, signature

pytestmark = pytest.mark.django_db(transaction=True)

ADDRESS = "buyer@northwind.example"


def _at(minutes: int) -> datetime.datetime:
    base = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return base + datetime.timedelta(minutes=minutes)


def _order_page(order) -> str:
    client = Client()
    client.force_login(UserFactory(is_staff=True, is_superuser=True))
    response = client.get(reverse("admin:orders_salesorder_change", args=[order.pk]))
    assert response.status_code == 200
    return response.content.decode()


def _tracking(delivery):
    delivery.refresh_from_db()
    return delivery.tracking_status, delivery.tracking_at, delivery.tracking_detail


def test_a_deferral_then_a_hard_bounce_show_on_the_row_and_the_order_page(
    client, mailgun, sent_email
):
    delivery, order = sent_email

    response = post(client, mg.temporary_failure(delivery.message_id, ADDRESS, _at(1)))
    assert response.status_code == 200
    status, _when, detail = _tracking(delivery)
    assert status == TrackingStatus.DEFERRED and "over quota" in detail
    assert "Deferred" in _order_page(order)

    response = post(client, mg.permanent_failure(delivery.message_id, ADDRESS, _at(5)))
    assert response.status_code == 200
    status, when, detail = _tracking(delivery)
    assert status == TrackingStatus.BOUNCED
    assert when == _at(5) and "5.1.1" in detail
    page = _order_page(order)
    assert "⚠ Bounced" in page
    assert reverse("admin:outbox_delivery_send_elsewhere", args=[delivery.pk]) in page
    event = AuditEvent.objects.get(action="delivery.bounced")
    assert event.target_id == str(delivery.pk)
    assert event.actor_name == "mailgun_tracking_webhook" and event.actor is None
    assert ADDRESS in event.message and "5.1.1" in event.message


def test_a_delivery_and_then_a_complaint(client, mailgun, sent_email):
    delivery, order = sent_email

    post(client, mg.delivered(delivery.message_id, ADDRESS, _at(1)))
    assert _tracking(delivery)[0] == TrackingStatus.DELIVERED
    assert "Delivered" in _order_page(order)
    assert not AuditEvent.objects.filter(action__startswith="delivery.d").exists()

    post(client, mg.complained(delivery.message_id, ADDRESS, _at(60)))
    assert _tracking(delivery)[0] == TrackingStatus.COMPLAINED
    assert "⚠ Marked as spam" in _order_page(order)
    assert AuditEvent.objects.filter(action="delivery.complained").count() == 1


def test_events_out_of_order_or_replayed_do_not_hide_newer_news(client, mailgun, sent_email):
    delivery, _order = sent_email
    ids = (delivery.message_id, ADDRESS)
    bounce = mg.permanent_failure(*ids, _at(5))
    post(client, bounce)
    shown = _tracking(delivery)
    assert shown[0] == TrackingStatus.BOUNCED

    # Mailgun posts again what it thinks we missed, and earlier news arrives late.
    for late in (
        bounce,
        mg.permanent_failure(*ids, _at(4)),
        mg.delivered(*ids, _at(6)),
        mg.temporary_failure(*ids, _at(1)),
    ):
        assert post(client, late).status_code == 200
        assert _tracking(delivery) == shown

    assert AuditEvent.objects.filter(action="delivery.bounced").count() == 1


def test_a_late_deferral_does_not_hide_a_delivery(client, mailgun, sent_email):
    delivery, _order = sent_email
    post(client, mg.delivered(delivery.message_id, ADDRESS, _at(2)))
    post(client, mg.temporary_failure(delivery.message_id, ADDRESS, _at(1)))
    assert _tracking(delivery)[:2] == (TrackingStatus.DELIVERED, _at(2))


@pytest.mark.parametrize(
    "sign",
    [
        {"key": "not-the-signing-key"},
        {"tampered": True},
        {"missing": True},
    ],
    ids=["another key", "tampered signature", "no signature"],
)
def test_a_call_not_signed_with_the_key_is_refused_and_changes_nothing(
    client, mailgun, sent_email, sign
):
    delivery, _order = sent_email
    before = _tracking(delivery)
    event = mg.permanent_failure(delivery.message_id, ADDRESS, _at(5))
    if sign.get("missing"):
        response = client.post(
            WEBHOOK_URL, data={"event-data": event}, content_type="application/json"
        )
    else:
        block = signature(key=sign.get("key", mailgun["MAILGUN_WEBHOOK_SIGNING_KEY"]))
        if sign.get("tampered"):
            block["token"] = block["token"][:-1] + ("0" if block["token"][-1] != "0" else "1")
        response = post(client, event, sign=block)

    assert response.status_code == 400
    assert _tracking(delivery) == before
    assert not AuditEvent.objects.filter(action__startswith="delivery.b").exists()
    assert mailgun["MAILGUN_WEBHOOK_SIGNING_KEY"] not in response.content.decode()


def test_an_event_for_a_message_keyship_did_not_send_changes_nothing(client, mailgun, sent_email):
    delivery, _order = sent_email
    before = _tracking(delivery)

    unknown = post(client, mg.permanent_failure("<nope@elsewhere>", ADDRESS, _at(5)))
    other_recipient = post(
        client,
        mg.permanent_failure(delivery.message_id, "someone@else.example", _at(5)),
    )

    # 200: Mailgun would otherwise post it again for hours.
    assert unknown.status_code == other_recipient.status_code == 200
    assert _tracking(delivery) == before
    assert not AuditEvent.objects.filter(action="delivery.bounced").exists()


def test_the_recipient_is_matched_in_any_case(client, mailgun, sent_email):
    delivery, _order = sent_email
    post(client, mg.permanent_failure(delivery.message_id, ADDRESS.upper(), _at(5)))
    assert _tracking(delivery)[0] == TrackingStatus.BOUNCED


def test_without_a_signing_key_the_webhook_does_not_exist(client, settings, sent_email):
    settings.ANYMAIL = {}
    delivery, _order = sent_email
    response = post(client, mg.permanent_failure(delivery.message_id, ADDRESS, _at(5)))
    assert response.status_code == 404
    assert _tracking(delivery)[0] == TrackingStatus.NONE


def test_with_a_webhook_secret_basic_auth_is_asked_for_too(client, mailgun, sent_email):
    mailgun["WEBHOOK_SECRET"] = "keyship:s3cret-basic-auth"
    delivery, _order = sent_email
    event = mg.permanent_failure(delivery.message_id, ADDRESS, _at(5))

    assert post(client, event).status_code == 400
    assert _tracking(delivery)[0] == TrackingStatus.NONE
    auth = base64.b64encode(b"keyship:s3cret-basic-auth").decode()
    assert post(client, event, HTTP_AUTHORIZATION=f"Basic {auth}").status_code == 200
    assert _tracking(delivery)[0] == TrackingStatus.BOUNCED


def test_production_settings_let_the_signed_post_through(settings, mailgun, sent_email):
    # HTTPS behind a proxy, CSRF checked, a host of ALLOWED_HOSTS: as Mailgun reaches it.
    settings.SECURE_SSL_REDIRECT = True
    settings.ALLOWED_HOSTS = ["keyship.example"]
    delivery, _order = sent_email
    client = Client(enforce_csrf_checks=True)
    event = mg.permanent_failure(delivery.message_id, ADDRESS, _at(5))

    plain = post(client, event, HTTP_HOST="keyship.example")
    assert plain.status_code == 301  # plain HTTP goes to HTTPS, as every page
    response = post(client, event, HTTP_HOST="keyship.example", HTTP_X_FORWARDED_PROTO="https")
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert _tracking(delivery)[0] == TrackingStatus.BOUNCED
    assert post(client, event, HTTP_HOST="evil.example").status_code == 400
