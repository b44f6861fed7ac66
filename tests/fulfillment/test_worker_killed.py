"""A real Celery worker on the Redis broker, killed with SIGKILL mid-work and started again."""

import collections
import os
import signal
import subprocess
import sys
import time

import pytest
from celery import current_app
from django.conf import settings
from django.db import connection

from apps.entitlements.models import Certificate, CertificateStatus
from apps.orders.models import LineStatus, OrderLine
from apps.outbox.models import Delivery, DeliveryStatus
from tests.fulfillment.helpers import order_with_lines, today
from tests.smtp import SmtpServer

ORDERS = 12
LEASE = 3  # seconds: how soon the rescuer may hand a killed worker's row to another


def _worker_env(smtp_port: int, media) -> dict:
    db = connection.settings_dict
    login = f"{db['USER']}:{db['PASSWORD'] or ''}"
    database = f"postgres://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "true",
        "DATABASE_URL": database,
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "EMAIL_URL": f"smtp://127.0.0.1:{smtp_port}",
        "MEDIA_ROOT": str(media),
        "CERTIFICATE_RENDER_LEASE": str(LEASE),
        "EMAIL_SEND_LEASE": str(LEASE),
        "EMAIL_DOCUMENTS_WAIT": str(LEASE),
    }


def _start_worker(env, log):
    # One process: a kill interrupts at most one task, as the window allows one copy per kill.
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "config",
            "worker",
            "--queues",
            "fulfillment,pdf,mail",
            "--concurrency",
            "1",
            "--pool",
            "prefork",
            "--loglevel",
            "INFO",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )


def _kill(worker):
    os.killpg(worker.pid, signal.SIGKILL)  # the worker and its pool process, with no warning
    worker.wait(timeout=10)


def _beat():
    # What beat does every minute, sent to the real broker (tests otherwise run tasks eagerly).
    current_app.send_task("apps.fulfillment.tasks.fulfil_due_task")
    current_app.send_task("apps.fulfillment.tasks.queued_work_rescue_task")


def _wait(condition, timeout, every=0.2, tick=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        if tick:
            tick()
        time.sleep(every)
    return False


def _everything_done():
    return (
        not OrderLine.objects.filter(status=LineStatus.OPEN).exists()
        and not Certificate.objects.exclude(status=CertificateStatus.READY).exists()
        and not Delivery.objects.exclude(status=DeliveryStatus.SENT).exists()
    )


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_worker_killed_mid_work_leaves_nothing_lost_and_nothing_twice(tmp_path):
    current_app.connection_for_write().default_channel.client.flushdb()  # this test's broker db
    orders = [
        order_with_lines(dates=[today(), today()], emails=[f"buyer{n}@example.com"])
        for n in range(ORDERS)
    ]
    log = open(tmp_path / "worker.log", "w")
    kills = 0
    with SmtpServer() as smtp:
        env = _worker_env(smtp.port, tmp_path / "media")
        worker = _start_worker(env, log)
        try:
            current_app.send_task("apps.fulfillment.tasks.fulfil_due_task")
            # Kill once the worker is busy with the certificates and the emails.
            assert _wait(lambda: len(smtp.sink.messages) >= 2, timeout=90), (
                "no email before the kill"
            )
            _kill(worker)
            kills += 1
            in_flight = Delivery.objects.exclude(status__in=[DeliveryStatus.SENT]).count()
            assert in_flight > 0, "the kill came too late to test anything"
            worker = _start_worker(env, log)
            last_beat = [0.0]

            def beat_every_second():
                if time.monotonic() - last_beat[0] > 1:
                    _beat()
                    last_beat[0] = time.monotonic()

            done = _wait(_everything_done, timeout=150, every=0.3, tick=beat_every_second)
        finally:
            _kill(worker)
            log.close()
            current_app.connection_for_write().default_channel.client.flushdb()
        assert done, (tmp_path / "worker.log").read_text()[-3000:]
        messages = list(smtp.sink.messages)

    # Every line shipped once, every certificate rendered, every recipient has its email.
    assert OrderLine.objects.filter(status=LineStatus.FULFILLED).count() == 2 * ORDERS
    assert all(order.shipments.count() == 1 for order in orders)
    received = collections.Counter(m["Message-ID"] for m in messages)
    assert set(received) == set(Delivery.objects.values_list("message_id", flat=True))
    # A second copy only for a kill that fell between the server's "250 OK" and the row's
    # "sent": at most one per kill, and counted.
    copies = sum(count - 1 for count in received.values())
    assert copies <= kills
    print(f"kills: {kills}, emails: {len(received)}, second copies: {copies}")
