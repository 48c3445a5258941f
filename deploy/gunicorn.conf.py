"""Gunicorn settings of the api image (deploy/Dockerfile runs
``gunicorn --config deploy/gunicorn.conf.py 'core_server.wsgi:create()'``).

Environment: ``GUNICORN_BIND`` (default ``0.0.0.0:8080``), ``WEB_CONCURRENCY`` (worker processes,
default 2), ``GUNICORN_THREADS`` (threads per worker, default 4), ``GUNICORN_TIMEOUT`` (seconds,
default 120), ``FORWARDED_ALLOW_IPS`` (proxies whose X-Forwarded-* headers gunicorn trusts).
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8080")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "120"))
graceful_timeout = 30
# Build the app once in the master: a broken config fails the start instead of every worker,
# and a secret key generated at startup (none configured) is the same in all workers. Engines
# are created lazily, so no connection is shared across the fork.
preload_app = True
# core_server writes its own structured access line per request.
accesslog = None
errorlog = "-"
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")
