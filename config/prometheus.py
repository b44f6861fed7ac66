"""The folder where the processes of one host keep their metrics for `/metrics`.

prometheus_client's multiprocess mode: each process (a gunicorn worker, a Celery prefork
child, a management command) writes its counters and histograms to files of its own in
PROMETHEUS_MULTIPROC_DIR, and /metrics adds up every file there. prometheus_client decides
whether it runs in that mode when it is first imported, from the environment: so every
entry point (the settings, gunicorn's configuration) puts the folder in the environment before
anything imports it.
"""

import os
from pathlib import Path

DEFAULT_DIR = Path(__file__).resolve().parent.parent / "var" / "prometheus"


def multiprocess_dir_prepare(value: str = "") -> str:
    """The folder (`value`, else the environment's PROMETHEUS_MULTIPROC_DIR, else
    prometheus/ in the host's VAR_DIR, var/ by default), created and set in the environment;
    returns it."""
    path = (
        value
        or os.environ.get("PROMETHEUS_MULTIPROC_DIR")
        or (os.environ.get("VAR_DIR") and str(Path(os.environ["VAR_DIR"]) / "prometheus"))
        or str(DEFAULT_DIR)
    )
    Path(path).mkdir(parents=True, exist_ok=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return path
