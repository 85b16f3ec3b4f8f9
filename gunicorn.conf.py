"""gunicorn's settings for linktrack's web process (the Procfile's `web`, and bench/redirect.py, which
runs gunicorn in this folder: gunicorn reads ./gunicorn.conf.py by itself). Options given on the
command line (workers, bind) still win over these.

- Access log: off unless ACCESS_LOG is on. gunicorn's access line costs the short link about a
  fifth of its throughput (bench/README.md, "Access log"); the proxy in front keeps one anyway.
  On, it goes to standard output, as `--access-logfile -` did.
- LOG_FORMAT=json: gunicorn's own lines (errors, worker starts, the access log) are JSON lines in
  the app's shape too (linktrack/logs.py).
- Metrics (METRICS_TOKEN set): prometheus-client's multiprocess mode. Every worker writes its
  values to files in PROMETHEUS_MULTIPROC_DIR (a fresh temporary folder when it is unset, removed
  at exit); GET /metrics adds them up (linktrack/web/metrics.py). The folder is emptied when the
  master starts, as prometheus-client requires, and a worker that exits is marked dead
  (child_exit), so its gauges (buffer depth) stop counting while its counters stay in the sums.
  Keep the folder on a local disk or tmpfs, one per gunicorn master.
"""

import glob
import os
import shutil
import tempfile

from linktrack.config import ENVIRONMENT, read_setting

if read_setting("ACCESS_LOG", ENVIRONMENT["ACCESS_LOG"]):
    accesslog = "-"

if read_setting("LOG_FORMAT", ENVIRONMENT["LOG_FORMAT"]) == "json":
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": "linktrack.logs.JsonFormatter"}},
        "handlers": {
            "error": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
            "access": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
        },
        "root": {"level": "INFO", "handlers": ["error"]},
        "loggers": {
            "gunicorn.error": {"level": "INFO", "handlers": ["error"], "propagate": False},
            "gunicorn.access": {"level": "INFO", "handlers": ["access"], "propagate": False},
        },
    }

_made_metrics_dir = None
if read_setting("METRICS_TOKEN", ENVIRONMENT["METRICS_TOKEN"]) and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    _made_metrics_dir = tempfile.mkdtemp(prefix="linktrack-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = _made_metrics_dir  # before any worker imports prometheus-client


def on_starting(server):
    """A previous master's files would add its counts to ours."""
    folder = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if folder:
        os.makedirs(folder, exist_ok=True)
        for path in glob.glob(os.path.join(folder, "*.db")):
            os.remove(path)


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _made_metrics_dir:
        shutil.rmtree(_made_metrics_dir, ignore_errors=True)
