"""gunicorn's configuration (`gunicorn -c config/gunicorn.py`): the Procfile's command line
says the rest.

The web workers report their metrics through files in PROMETHEUS_MULTIPROC_DIR (see
config/prometheus.py). The folder goes into the environment here, in the master, before a
worker is forked or imports prometheus_client; a worker that ends is marked dead so that its
live gauges stop counting (its counters and histograms stay in the totals).
"""

from pathlib import Path

import environ

from config.prometheus import multiprocess_dir_prepare

# The same .env the settings read, so that a PROMETHEUS_MULTIPROC_DIR set there is the one.
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
_metrics_dir = multiprocess_dir_prepare()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)
