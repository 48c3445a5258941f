"""Gunicorn settings of the api image (deploy/Dockerfile runs
``gunicorn --config deploy/gunicorn.conf.py 'core_server.wsgi:create()'``).

Environment: ``GUNICORN_BIND`` (default ``0.0.0.0:8080``), ``WEB_CONCURRENCY`` (worker processes,
default 2), ``GUNICORN_THREADS`` (threads per worker, default 4), ``GUNICORN_TIMEOUT`` (seconds,
default 120), ``FORWARDED_ALLOW_IPS`` (proxies whose X-Forwarded-* headers gunicorn trusts),
``PROMETHEUS_MULTIPROC_DIR`` (metrics of all workers; default: a new temporary folder).
"""

import os
import shutil
import tempfile

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# gthread: requests are short and mostly wait on the database, so threads overlap them at a
# small memory cost. A gthread thread reads a request until it is complete, so a client that
# sends slowly holds a thread: in production nginx stands in front (core-server nginx buffers
# whole requests and whole responses), and gunicorn is never exposed directly
# (docs/deployment.rst, "Slow clients", has the measurements).
# core_server's subclass of it serves a kept-alive connection's next request in the same thread
# when it arrives at once (core_server/gunicorn_worker.py: 0.2 ms less CPU per such request).
worker_class = "core_server.gunicorn_worker.ThreadWorker"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# as nginx's proxy_read_timeout (core-server nginx --upstream-timeout reads GUNICORN_TIMEOUT)
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
# SIGTERM: stop accepting, let running requests finish for up to this long
graceful_timeout = 30
# the worker heartbeat file on tmpfs: a slow or full disk never stalls the workers
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# Build the app once in the master: a broken config fails the start instead of every worker,
# and a secret key generated at startup (none configured) is the same in all workers. Engines
# are created lazily, so no connection is shared across the fork.
preload_app = True
# core_server writes its own structured access line per request.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
# Request line and header limits far above the app's own (core_server.max_request_line and
# max_header_size, 16 KiB each): the app answers 414/431 as JSON instead of gunicorn's plain
# 400 (core_server/httplimits.py, GUNICORN_LIMITS, also used by `core-server serve --workers`).
limit_request_line = 0
limit_request_field_size = 256 * 1024
limit_request_fields = 100

# Prometheus multiprocess mode: every worker writes its metrics to files in one folder and a
# scrape of any worker adds them up (core_server/metrics.py). Set before the app is loaded;
# the folder is new per master, so no stale values of an earlier run are counted.
if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="core_server-metrics-")
    _OWN_METRICS_DIR = os.environ["PROMETHEUS_MULTIPROC_DIR"]
else:
    _OWN_METRICS_DIR = ""


def child_exit(server, worker):
    """A dead worker's live gauges (pool in use) stop counting."""
    from core_server.metrics import child_exit as forget

    forget(server, worker)


def on_exit(server):
    """The metrics folder made above goes with the master."""
    if _OWN_METRICS_DIR:
        shutil.rmtree(_OWN_METRICS_DIR, ignore_errors=True)
