"""GET /metrics: what Prometheus scrapes after a day's work, and who may scrape it."""

import datetime
import os
import subprocess
import sys
import textwrap

import pytest
import time_machine
from django.conf import settings as django_settings
from django.test import Client
from django.urls import reverse
from prometheus_client.parser import text_string_to_metric_families

from apps.catalog.models import DeliveryMethod
from apps.core.actors import Job
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Entitlement
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.models import SalesOrder
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines
from tests.portal.helpers import portal_contact
from tests.webhooks.conftest import endpoint_for
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db(transaction=True)

TOKEN = "keyship-metrics-token-for-the-test-suite-7f3a9c"


@pytest.fixture
def receiver(settings):
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with Receiver() as server:
        yield server


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(client=None) -> dict:
    """The scrape as Prometheus parses it: {sample name: [(labels, value)]}."""
    response = (client or Client()).get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    samples: dict = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            samples.setdefault(sample.name, []).append((sample.labels, sample.value))
    return samples


def value(samples: dict, name: str, **labels) -> float:
    """The sum of the samples of `name` whose labels include these."""
    return sum(
        found
        for sample_labels, found in samples.get(name, [])
        if all(sample_labels.get(key) == wanted for key, wanted in labels.items())
    )


def lag(samples, stage, le=None) -> float:
    if le is None:
        return value(samples, "keyship_fulfillment_lag_seconds_count", stage=stage)
    return value(samples, "keyship_fulfillment_lag_seconds_bucket", stage=stage, le=le)


def test_a_days_work_shows_in_the_counters_and_gauges(token, smtp, receiver, settings):
    settings.PASSWORD_RESET_CLIENT_RATE = "1/h"
    yesterday = datetime.date.today() - datetime.timedelta(days=1)
    before = scrape()
    # Given an ERP endpoint that answers 500 for now, an order due since yesterday with two
    # lines, and one whose product is no longer sold
    endpoint_for(receiver.url, events=["line.shipped"])
    receiver.default = 500
    shipped = order_with_lines(dates=[yesterday, yesterday], emails=["buyer@northwind.example"])
    retired = ProductFactory(is_active=False, delivery_method=DeliveryMethod.JAL)
    blocked = order_with_lines(dates=[yesterday], product=retired, emails=["x@blocked.example"])

    # When the sweep runs (its certificates render and its email goes out on commit)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    # And a second order's email is refused for good by the mail server
    smtp.refusals.append("550 5.1.1 No such user")
    refused = order_with_lines(dates=[yesterday], emails=["nobody@refused.example"])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    # And a device is activated, a password is wrong, a client asks for resets too often
    entitlement = Entitlement.objects.filter(order_line__order=shipped).first()
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=UserFactory())
    portal_contact(email="alice@northwind.example")
    browser = Client()
    browser.post(reverse("login"), {"username": "alice@northwind.example", "password": "guess"})
    for _ in range(2):
        browser.post(reverse("password_reset"), {"email": "alice@northwind.example"})
    # And one line is due today that no sweep has shipped yet
    order_with_lines(dates=[datetime.date.today()], emails=["later@northwind.example"])

    after = scrape()

    def grew(name, **labels):
        return value(after, name, **labels) - value(before, name, **labels)

    # Then three lines shipped, a day or more after their date began, and one was blocked
    assert grew("keyship_lines_total", outcome="shipped") == 3
    assert grew("keyship_lines_total", outcome="blocked") == 1
    assert lag(after, "due_to_shipped") - lag(before, "due_to_shipped") == 3
    assert lag(after, "due_to_shipped", "86400.0") == lag(before, "due_to_shipped", "86400.0")
    assert grew("keyship_fulfillment_lag_seconds_sum", stage="due_to_shipped") >= 3 * 86400
    # And their certificates were rendered, each timed
    assert grew("keyship_certificates_rendered_total") == 3
    assert grew("keyship_certificate_render_seconds_count") == 3
    assert grew("keyship_certificate_render_seconds_sum") > 0
    # And one Fulfillment Email was accepted, within seconds of its shipment; one failed
    fulfillment = {"channel": "email", "kind": "fulfillment"}
    assert grew("keyship_messages_total", outcome="sent", **fulfillment) == 1
    assert len(smtp.to("buyer@northwind.example")) == 1
    assert grew("keyship_messages_total", outcome="failed", **fulfillment) == 1
    assert lag(after, "shipped_to_accepted") - lag(before, "shipped_to_accepted") == 1
    assert (
        lag(after, "shipped_to_accepted", "60.0") - lag(before, "shipped_to_accepted", "60.0") == 1
    )
    # And the first line.shipped event of each order waits to be tried again (the second
    # line's event of the first order waits behind its first)
    webhook = {"channel": "webhook", "kind": "webhook_event"}
    assert grew("keyship_messages_total", outcome="retry", **webhook) == 2
    assert grew("keyship_messages_total", outcome="sent", **webhook) == 0
    # And the device, the wrong password and the reset past its limit are counted
    assert grew("keyship_activations_total") == 1
    assert grew("keyship_logins_refused_total", reason="credentials") == 1
    assert grew("keyship_rate_limited_total", limit="password_reset") == 1
    assert grew("keyship_messages_total", channel="email", kind="password_reset") == 1
    # And the gauges say what waits now, read from the database
    assert value(after, "keyship_database_up") == 1
    assert value(after, "keyship_queue_depth", queue="webhooks") == 3
    assert value(after, "keyship_queue_depth", queue="emails") == 0
    assert value(after, "keyship_queue_depth", queue="certificates") == 0
    assert value(after, "keyship_queue_oldest_seconds", queue="webhooks") >= 0
    assert value(after, "keyship_queue_oldest_seconds", queue="emails") == 0
    assert value(after, "keyship_deliveries_failed", channel="email") == 1
    assert value(after, "keyship_deliveries_failed", channel="webhook") == 0
    assert value(after, "keyship_lines_overdue") == 1
    assert value(after, "keyship_lines_blocked") == 1

    # And no label names an address, an SSRN or an order number
    secrets_and_people = {
        *(e.ssrn for e in Entitlement.objects.all()),
        *SalesOrder.objects.values_list("order_number", flat=True),
        "buyer@northwind.example",
        "nobody@refused.example",
        "alice@northwind.example",
        receiver.url,
    }
    for name, found in after.items():
        for labels, _ in found:
            for label_value in labels.values():
                assert "@" not in label_value, (name, labels)
                assert not any(s in label_value for s in secrets_and_people), (name, labels)
    assert blocked and refused


def test_the_oldest_email_waiting_is_aged_from_when_it_was_queued(token, settings):
    # Given a Fulfillment Email whose certificates are not rendered (no worker took them)
    settings.CELERY_TASK_ALWAYS_EAGER = False
    settings.CELERY_BROKER_URL = "memory://"
    order_with_lines(dates=[datetime.date.today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    from apps.outbox.models import Delivery

    Delivery.objects.update(created_at=django_now() - datetime.timedelta(minutes=45))

    samples = scrape()

    assert value(samples, "keyship_queue_depth", queue="emails") == 1
    assert value(samples, "keyship_queue_depth", queue="certificates") == 1
    assert 45 * 60 <= value(samples, "keyship_queue_oldest_seconds", queue="emails") < 46 * 60
    assert value(samples, "keyship_lines_overdue") == 0


def django_now():
    from django.utils import timezone

    return timezone.now()


def test_only_the_right_token_is_answered(client, settings):
    settings.METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404

    settings.METRICS_TOKEN = TOKEN
    for header in (
        None,
        "Bearer",
        f"Bearer {TOKEN}x",
        f"Bearer {TOKEN[:-1]}",
        TOKEN,
        f"Basic {TOKEN}",
        f"bearer {TOKEN.upper()}",
    ):
        extra = {} if header is None else {"HTTP_AUTHORIZATION": header}
        refused = client.get("/metrics", **extra)
        assert refused.status_code == 401, header
        assert refused.content == b""
    assert client.get(f"/metrics?token={TOKEN}").status_code == 401
    assert client.post("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 405

    answered = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert answered.status_code == 200
    assert "no-store" in answered["Cache-Control"]
    assert b"keyship_queue_depth" in answered.content


def test_metrics_answers_over_plain_http_like_the_health_check(client, settings):
    settings.METRICS_TOKEN = TOKEN
    settings.SECURE_SSL_REDIRECT = True

    assert client.get("/account/login/").status_code == 301
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}").status_code == 200


def test_the_processes_of_a_host_report_together(token):
    # Given a counter this process counted, and another process (a worker) on the same host
    before = value(scrape(), "keyship_activations_total")
    worker = textwrap.dedent(
        """
        import django
        django.setup()
        from apps.core import metrics
        metrics.activations.inc(5)
        metrics.messages.labels(channel="email", kind="fulfillment", outcome="sent").inc(2)
        """
    )
    assert "PROMETHEUS_MULTIPROC_DIR" in os.environ
    done = subprocess.run(
        [sys.executable, "-c", worker],
        cwd=django_settings.BASE_DIR,
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings.test"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    # When Prometheus scrapes the web process, after the other process ended
    after = scrape()

    # Then its counts are in the totals
    assert value(after, "keyship_activations_total") == before + 5


def test_the_web_and_worker_processes_share_the_settings_folder():
    assert os.environ["PROMETHEUS_MULTIPROC_DIR"] == django_settings.PROMETHEUS_MULTIPROC_DIR
    assert os.path.isdir(django_settings.PROMETHEUS_MULTIPROC_DIR)
    procfile = (django_settings.BASE_DIR / "Procfile").read_text()
    assert "--config config/gunicorn.py" in procfile


@pytest.mark.parametrize("short", ["s3cr3t-but-short-7Qx", "ab" * 30])
def test_a_guessable_metrics_token_is_refused_in_production(short):
    from tests.core.test_production_settings import PRODUCTION_ENV, _run

    refused = _run("check", **{**PRODUCTION_ENV, "METRICS_TOKEN": short})
    accepted = _run("check", **{**PRODUCTION_ENV, "METRICS_TOKEN": TOKEN})

    assert refused.returncode != 0
    assert "METRICS_TOKEN must be at least 32 characters" in refused.stderr
    assert short not in refused.stderr
    assert accepted.returncode == 0, accepted.stderr


def test_a_locked_out_sign_in_is_counted_apart_from_a_wrong_password(token):
    portal_contact(email="alice@northwind.example")
    before = scrape()
    browser = Client()
    answers = [
        browser.post(reverse("login"), {"username": "alice@northwind.example", "password": "x"})
        for _ in range(7)
    ]

    after = scrape()

    # The fifth wrong password is the one that locks the pair out: it is answered as locked
    assert [answer.status_code for answer in answers] == [200] * 4 + [429] * 3
    wrong = {"reason": "credentials"}
    locked = {"reason": "locked_out"}
    assert (
        value(after, "keyship_logins_refused_total", **wrong)
        - value(before, "keyship_logins_refused_total", **wrong)
        == 4
    )
    assert (
        value(after, "keyship_logins_refused_total", **locked)
        - value(before, "keyship_logins_refused_total", **locked)
        == 3
    )


def test_the_heartbeats_age_shows_when_beat_or_the_workers_fell_silent(token):
    # Before any heartbeat the gauge is absent, which the "beat silent" alert also catches.
    assert "keyship_heartbeat_age_seconds" not in scrape()
    from apps.core.models import ProcessKind
    from apps.core.services import heartbeat_record

    with time_machine.travel(django_now() - datetime.timedelta(minutes=10)):
        heartbeat_record(kind=ProcessKind.BEAT, host="old-host")
    heartbeat_record(kind=ProcessKind.WORKER, host="worker-1", queue="mail")

    samples = scrape()

    beat = value(samples, "keyship_heartbeat_age_seconds", process="beat")
    assert 600 <= beat < 660
    assert value(samples, "keyship_heartbeat_age_seconds", process="worker") < 60
