"""The Celery app. Messages only wake workers up: the database rows are the truth."""

import os

from celery import Celery
from celery.signals import worker_process_shutdown

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("keyship")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@worker_process_shutdown.connect
def _metrics_process_dead(pid=None, **kwargs):
    """A prefork child that ends stops counting in the host's live gauges (its counters and
    histograms stay in the totals): prometheus_client's multiprocess bookkeeping."""
    from django.conf import settings
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)
