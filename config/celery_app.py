"""The Celery app. Messages only wake workers up: the database rows are the truth."""

import logging
import os
import sys
from logging.config import dictConfig

from celery import Celery, signals
from celery.utils.log import LoggingProxy

from apps.core.logs import log_context_bind, log_context_reset

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")

app = Celery("keyship")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@signals.setup_logging.connect
def logging_from_settings(**kwargs):
    """Worker and beat log as the web does (settings.LOGGING, LOG_FORMAT): connected, this
    signal keeps Celery from putting its own format on the root logger."""
    from django.conf import settings

    dictConfig(settings.LOGGING)
    logging.captureWarnings(True)


@signals.celeryd_init.connect
def worker_logging_early(**kwargs):
    """The worker warns (running as root, say) before it sets up logging: set it up first.
    With JSON lines, what Celery prints itself instead of logging (its shutdown notices, a
    task's print) goes through a logger too."""
    from django.conf import settings

    logging_from_settings()
    if settings.LOG_FORMAT == "json":
        sys.stdout = sys.__stdout__ = LoggingProxy(logging.getLogger("celery.redirected"))


# The context of each task run, by task id: a task run eagerly inside another gets its own
# and gives the outer one back when it ends.
_task_contexts = {}


@signals.task_prerun.connect
def task_log_context_bind(task_id=None, task=None, **kwargs):
    _task_contexts[task_id] = log_context_bind(task_id=task_id, task_name=task.name)


@signals.task_postrun.connect
def task_log_context_reset(task_id=None, **kwargs):
    token = _task_contexts.pop(task_id, None)
    if token is not None:
        try:
            log_context_reset(token)
        except ValueError:  # bound in another context (a thread): nothing to give back here
            pass


@signals.worker_process_shutdown.connect
def _metrics_process_dead(pid=None, **kwargs):
    """A prefork child that ends stops counting in the host's live gauges (its counters and
    histograms stay in the totals): prometheus_client's multiprocess bookkeeping."""
    from django.conf import settings
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(pid or os.getpid(), settings.PROMETHEUS_MULTIPROC_DIR)
