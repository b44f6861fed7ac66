"""Signs of life of beat and the workers, for the dashboard's warning.

Beat sends `heartbeat_task` every 30 seconds to each worker queue. When it sends one, beat
writes its own heartbeat (it is alive and scheduling); the worker that runs it writes the
worker's heartbeat for that queue (it is alive and consuming that queue). The rows are in
the database, so every web process sees the same, whichever host wrote them.
"""

import logging
import socket

from django.db import close_old_connections, connection

from apps.core.models import ProcessKind
from apps.core.services import heartbeat_record

logger = logging.getLogger(__name__)

HEARTBEAT_TASK = "apps.core.tasks.heartbeat_task"


def worker_heartbeat_record(*, host: str, queue: str) -> None:
    heartbeat_record(kind=ProcessKind.WORKER, host=host or socket.gethostname(), queue=queue)


def beat_heartbeat_on_publish(sender=None, **kwargs) -> None:
    """before_task_publish: when beat sends the heartbeat task, beat is alive. Only beat
    sends it; any other message is none of this handler's business."""
    if sender != HEARTBEAT_TASK:
        return
    try:
        # Beat runs for weeks: a connection the database closed meanwhile is opened again.
        # (Not inside a transaction: that connection is in use.)
        if not connection.in_atomic_block:
            close_old_connections()
        heartbeat_record(kind=ProcessKind.BEAT, host=socket.gethostname())
    except Exception:
        # A database that is down must not stop beat from scheduling the jobs.
        logger.exception("beat's heartbeat could not be recorded")
