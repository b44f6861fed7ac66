"""A real Celery worker on the Redis broker, killed with SIGKILL while an endpoint holds its
request: the rescuer sends that event again, with the same id, and every other event
arrives, once each and in order per topic."""

import os
import signal
import subprocess
import sys
import time

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.outbox import tasks as outbox_tasks
from apps.outbox.models import Channel, Delivery, DeliveryStatus
from tests.fulfillment.helpers import order_with_lines, today
from tests.webhooks.conftest import endpoint_for

LEASE = 3  # seconds before the rescuer may hand a killed worker's delivery to another


def _worker_env() -> dict:
    db = connection.settings_dict
    login = f"{db['USER']}:{db['PASSWORD'] or ''}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "true",
        "DATABASE_URL": f"postgres://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_SEND_LEASE": str(LEASE),
        "WEBHOOK_ALLOW_PRIVATE_URLS": "true",
        "WEBHOOK_TIMEOUT": "60",  # longer than the endpoint holds the request
    }


def _start_worker(log):
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--queues",
            "fulfillment,webhooks",
            "--concurrency",
            "1",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=settings.BASE_DIR,
        env=_worker_env(),
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill(worker):
    os.killpg(worker.pid, signal.SIGKILL)
    worker.wait(timeout=10)


def _wait(condition, timeout, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if tick:
            tick()
        time.sleep(0.3)
    return False


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_delivery_loses_no_event(receiver, monkeypatch, tmp_path):
    broker = current_app.connection_for_write().default_channel.client
    broker.flushdb()
    endpoint, secret = endpoint_for(receiver.url, events=["line.shipped", "entitlement.created"])
    # The events are recorded here; only the worker below sends them (tests run tasks
    # eagerly), and the certificates are not this test's business.
    monkeypatch.setattr(outbox_tasks, "deliveries_hand_out", lambda by_channel, batch=50: None)
    monkeypatch.setattr("apps.fulfillment.services._after_commit", lambda report: None)
    order_with_lines(dates=[today(), today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    deliveries = list(Delivery.objects.filter(endpoint=endpoint).order_by("pk"))
    assert len(deliveries) == 4
    receiver.answers.append(("block", 200))  # the first request is held until released

    log = open(tmp_path / "worker.log", "w")
    worker = _start_worker(log)
    try:
        current_app.send_task(
            "apps.outbox.tasks.webhook_deliveries_send_task",
            args=[[delivery.pk for delivery in deliveries]],
        )
        assert _wait(receiver.arrived.is_set, timeout=60), "no request reached the endpoint"
        _kill(worker)
        receiver.release.set()  # the endpoint answers a worker that is gone
        held = receiver.received[0].event["id"]
        assert Delivery.objects.get(payload__id=held).status == DeliveryStatus.SENDING

        worker = _start_worker(log)
        last = [0.0]

        def rescue_every_second():
            if time.monotonic() - last[0] > 1:
                current_app.send_task("apps.fulfillment.tasks.queued_work_rescue_task")
                last[0] = time.monotonic()

        def all_sent():
            rows = Delivery.objects.filter(channel=Channel.WEBHOOK)
            return not rows.exclude(status=DeliveryStatus.SENT).exists()

        done = _wait(all_sent, timeout=90, tick=rescue_every_second)
    finally:
        _kill(worker)
        log.close()
        broker.flushdb()
    assert done, (tmp_path / "worker.log").read_text()[-3000:]

    ids = [request.event["id"] for request in receiver.received]
    assert set(ids) == {delivery.payload["id"] for delivery in deliveries}
    assert ids.count(held) == 2  # the one the kill interrupted, sent again with its id
    assert len(ids) == len(deliveries) + 1
    assert all(request.signature_valid(secret) for request in receiver.received)
    # The two lines of the order arrive in their order (one topic).
    shipped = [
        request.event["data"]["line_number"]
        for request in receiver.received
        if request.event["type"] == "line.shipped"
    ]
    assert list(dict.fromkeys(shipped)) == [1, 2]
