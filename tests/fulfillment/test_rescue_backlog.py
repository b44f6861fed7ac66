"""A big day: the pdf queue holds minutes of work, and the rescuer leaves alone the
certificates that are only waiting their turn in it."""

import datetime

import pytest
import time_machine

from apps.core.actors import Job
from apps.entitlements.models import Certificate, CertificateStatus
from apps.fulfillment.services import order_lines_fulfil_due, queued_work_rescue
from tests.fulfillment.helpers import order_with_lines

pytestmark = pytest.mark.django_db

NOW = datetime.datetime(2026, 12, 1, 9, 0, tzinfo=datetime.UTC)
MINUTE = datetime.timedelta(minutes=1)


@time_machine.travel(NOW, tick=False)
def test_the_rescuer_hands_out_a_waiting_certificate_only_once_its_task_could_be_lost(settings):
    # Given orders shipped by the sweep, whose shipments' tasks wait in the pdf queue (on
    # commit, they are handed to the broker; here they never run),
    for _ in range(3):
        order_with_lines(dates=[NOW.date(), NOW.date()])
    shipments = sorted(order_lines_fulfil_due(actor=Job("fulfil_due_task")).shipments)
    lease = datetime.timedelta(seconds=settings.CERTIFICATE_RENDER_LEASE)
    assert Certificate.objects.filter(status=CertificateStatus.QUEUED).count() == 6

    # the rescuer, running every minute, queues no second task for them within a render
    # lease,
    for minutes in range(1, lease // MINUTE):
        assert queued_work_rescue(now=NOW + minutes * MINUTE)[0] == []
    # then hands their shipments out again once (the first task may have been lost),
    assert queued_work_rescue(now=NOW + lease + MINUTE)[0] == shipments
    # not every minute while that task waits its turn,
    for minutes in range(2, lease // MINUTE + 1):
        assert queued_work_rescue(now=NOW + lease + minutes * MINUTE)[0] == []
    # and again a lease later if the certificates still wait.
    assert queued_work_rescue(now=NOW + 2 * (lease + MINUTE))[0] == shipments
