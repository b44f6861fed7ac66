"""What several hosts must share is shared: production's check names a cache that is one
process's own, and the periodic jobs may be sent by two beats at once."""

import threading

import pytest
from django.db import connection

from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements import changes
from tests.core.test_production_settings import PRODUCTION_ENV, _run
from tests.portal.helpers import new_account, subscription_of


def test_the_deploy_check_warns_of_a_cache_that_each_process_keeps_for_itself(tmp_path):
    own = _run("check", "--deploy", **PRODUCTION_ENV, VAR_DIR=str(tmp_path))
    shared = _run(
        "check", "--deploy", **PRODUCTION_ENV, VAR_DIR=str(tmp_path), CACHE_URL="redis://r:6379/1"
    )

    assert "keyship.W002" in own.stderr + own.stdout
    assert "CACHE_URL" in own.stderr + own.stdout
    assert "keyship.W002" not in shared.stderr + shared.stdout


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_beats_recording_status_moves_at_once_record_each_move_once(monkeypatch):
    """Two beats (one on each of two hosts) send the status-moves job at the same moment:
    the runs share the work and each move is recorded once."""
    account = new_account()
    ended = [subscription_of(account, ends_in_days=-1) for _ in range(30)]
    monkeypatch.setattr(changes, "STATUS_BATCH", 4)  # small batches: the runs interleave
    start = threading.Barrier(2)
    moved, errors = [], []

    def run():
        try:
            start.wait()
            moved.append(changes.entitlement_status_changes_record(actor=Job("beat")))
        except Exception as error:  # noqa: BLE001 - reported below
            errors.append(error)
        finally:
            connection.close()

    runs = [threading.Thread(target=run) for _ in range(2)]
    for thread in runs:
        thread.start()
    for thread in runs:
        thread.join()

    assert errors == []
    assert sum(moved) == len(ended)
    recorded = AuditEvent.objects.filter(action="entitlement.status_changed")
    assert recorded.count() == len(ended)
    assert len(set(recorded.values_list("target_id", flat=True))) == len(ended)
