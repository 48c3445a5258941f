"""gunicorn's gthread worker, with a kept-alive connection's next request served in place.

gunicorn's :class:`~gunicorn.workers.gthread.ThreadWorker` hands every kept-alive connection
back to its main thread after each request: the thread pool reports the finished future
through a pipe, the main thread registers the socket with its poller, waits for it to become
readable, unregisters it and submits it to the pool again. For a client that sends its next
request at once (a script paging through a view, a browser loading a page's data, a load
balancer's kept-alive upstream) that is two thread switches and six system calls per request:
measured 0.2 ms of CPU per request on the 2-core benchmark machine, as much as the whole
single-row request costs inside the app (bench/PERF.md).

:class:`ThreadWorker` keeps the connection in the thread that served it for as long as its
client sends the next request within :data:`LINGER_S`, up to :data:`MAX_IN_PLACE` requests in a
row, and only while no other connection waits for a thread: a lingering thread never delays
somebody else's request by more than :data:`LINGER_S`. Everything else (accepting, timeouts,
keep-alive expiry, graceful stop, HTTP/2) is gunicorn's own code.

It also accepts new connections only while it has an idle thread. gunicorn's workers all
listen on one socket and the first to wake takes every connection that is waiting, so eight
clients that connect at once often all land on one worker, which then serves them on one core
while the other worker idles (bench/README.md measured it). A worker whose threads are all
busy leaves new connections to a worker with a free thread; kept-alive connections between
requests do not count, so idle clients never keep a worker from accepting.
"""

from __future__ import annotations

import select
import threading
from typing import Any

from gunicorn.workers import gthread

#: how long a thread waits for the next request on the connection it just answered
LINGER_S = 0.001
#: requests served in a row on one connection before it goes back to the poller (fairness)
MAX_IN_PLACE = 100


class ThreadWorker(gthread.ThreadWorker):  # type: ignore[misc]
    """``worker_class = "core_server.gunicorn_worker.ThreadWorker"`` (``serve --workers N``)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._queued = 0  # connections submitted to the pool that no thread has picked up yet
        self._queued_lock = threading.Lock()
        self._busy = 0  # connections submitted to the pool and not finished (main thread only)

    def enqueue_req(self, conn: Any) -> None:
        with self._queued_lock:
            self._queued += 1
        self._busy += 1
        if self._busy >= self.cfg.threads:
            self.set_accept_enabled(False)
        super().enqueue_req(conn)

    def finish_request(self, conn: Any, fs: Any) -> None:
        self._busy -= 1
        super().finish_request(conn, fs)

    def set_accept_enabled(self, enabled: bool) -> None:
        # gunicorn's loop asks for accepting again whenever it is under worker_connections;
        # that waits for a free thread here
        super().set_accept_enabled(enabled and self._busy < self.cfg.threads)

    def handle(self, conn: Any) -> Any:
        with self._queued_lock:
            self._queued -= 1
        result = super().handle(conn)
        served = 1
        while (result is True and served < MAX_IN_PLACE and self.alive
               and not self._queued and self._next_request_arrives(conn)):
            result = super().handle(conn)
            served += 1
        return result

    def _next_request_arrives(self, conn: Any) -> bool:
        """Whether ``conn``'s next request is here or arrives within :data:`LINGER_S`, and no
        new connection waits for this worker's threads meanwhile."""
        unreader = getattr(conn.parser, "unreader", None)
        buffered = getattr(unreader, "buf", None)
        if buffered is not None and buffered.getvalue():  # pipelined: already read
            return True
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        if self._busy >= self.cfg.threads:  # not accepting now: watch for new clients too
            for listener in self.sockets:
                poller.register(listener, select.POLLIN)
        ready = poller.poll(LINGER_S * 1000)
        return len(ready) == 1 and ready[0][0] == conn.sock.fileno()
