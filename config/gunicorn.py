"""gunicorn's configuration (`gunicorn -c config/gunicorn.py`) and its logger (the
Procfile's `--logger-class config.gunicorn.Logger`); the Procfile's command line says the rest.

Metrics: the web workers report through files in PROMETHEUS_MULTIPROC_DIR (see
config/prometheus.py). The folder goes into the environment here, in the master, before a
worker is forked or imports prometheus_client; a worker that ends is marked dead so that its
live gauges stop counting (its counters and histograms stay in the totals).

Logs: with LOG_FORMAT=json the error log and the access log are JSON objects, one per line.
The access line keeps what the Procfile's `--access-logformat` allows (the path without its
query string, no Referer) as its message, and adds the same fields on their own, with the
request id the response carries. Both logs go through the application's secret redaction
either way.
"""

import logging
import os
from pathlib import Path

import environ
from gunicorn.glogging import Logger as GunicornLogger

from apps.core.logs import JsonFormatter, LogContext, RedactSecrets
from config.prometheus import multiprocess_dir_prepare

# The same .env the settings read, so that what is set there (PROMETHEUS_MULTIPROC_DIR,
# LOG_FORMAT) is the one.
environ.Env.read_env(Path(__file__).resolve().parent.parent / ".env", overwrite=False)
_metrics_dir = multiprocess_dir_prepare()


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, _metrics_dir)


def _json() -> bool:
    return os.environ.get("LOG_FORMAT", "text").strip().lower() == "json"


class Logger(GunicornLogger):
    def setup(self, cfg):
        super().setup(cfg)
        json_lines = _json()
        for log in (self.error_log, self.access_log):
            for handler in log.handlers:
                handler.addFilter(LogContext())
                handler.addFilter(RedactSecrets())
                if json_lines:
                    handler.setFormatter(JsonFormatter())
        if json_lines:
            # Warnings raised before the application configures logging (in this process
            # it never does) would otherwise be plain text on standard error.
            logging.captureWarnings(True)
            warnings_log = logging.getLogger("py.warnings")
            warnings_log.handlers = list(self.error_log.handlers)
            warnings_log.propagate = False

    def access(self, resp, req, environ, request_time):
        if not _json() or not self.access_log_enabled:
            return super().access(resp, req, environ, request_time)
        atoms = self.atoms_wrapper_class(self.atoms(resp, req, environ, request_time))
        self.access_log.info(
            self.cfg.access_log_format % atoms,
            extra={
                "request_id": atoms["{x-request-id}o"],
                "method": atoms["m"],
                "path": atoms["U"],
                "status": int(atoms["s"]) if str(atoms["s"]).isdigit() else atoms["s"],
                "bytes": atoms["B"],
                "duration_ms": atoms["M"],
                "remote_addr": atoms["h"],
                "user_agent": atoms["a"],
            },
        )
