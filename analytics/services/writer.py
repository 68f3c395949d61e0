"""The in-process event writer: requests hand events over and go on; one thread writes them in batches.

A page view during a live spike must not wait for a database write, yet the events must land in
the durable buffer (`BufferedEvent`) quickly and in batches. `EventWriter` is a per-process queue
with one daemon thread that appends whatever has queued up (after at most `max_delay` seconds, or
at once when `max_batch` rows are waiting) through `buffer_append`, i.e. one COPY on PostgreSQL.

Two kinds of hand-over:

* `submit(rows)` returns at once (fire and forget): page views, clicks, holds, shares.
* `submit(rows, wait=True)` returns a Future that resolves once the rows are committed: the
  beacon endpoint answers 202 only then, so an acknowledged event is in the database. Many
  concurrent beacons share one COPY and one commit (group commit).

Durability: `close()` writes everything still queued and runs at interpreter exit (a gunicorn or
qcluster worker that is stopped or restarted gracefully), so a restart loses nothing. A process
killed outright (SIGKILL, power loss) loses the fire-and-forget events of its last `max_delay`
seconds, which were never acknowledged to anyone; acknowledged (waited-for) events are never lost.
When the database is unreachable, fire-and-forget rows are kept (up to `max_queue`, oldest dropped
and logged beyond that) and retried; waiting callers get the error at once (the beacon answers 503).

`ANALYTICS_WRITER=sync` (the default under TESTING) writes on the caller's thread instead.
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from collections import deque
from concurrent.futures import Future

from django.conf import settings
from django.db import close_old_connections, connection

log = logging.getLogger(__name__)


class EventWriter:
    """Queue rows (event_clean output) and append them to the buffer from one background thread.

    `append` is the function that writes a list of rows (default: capture.buffer_append), called
    on the writer's thread with its own database connection.
    """

    def __init__(self, *, append=None, max_delay: float = 0.05, max_batch: int = 2000, max_queue: int = 200_000):
        self._append = append
        self.max_delay = max_delay
        self.max_batch = max_batch
        self.max_queue = max_queue
        self._queue: deque[tuple[tuple, Future | None]] = deque()
        self._cond = threading.Condition()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()
        self._closed = False
        self._busy = False
        self._waiters = 0  # queued submissions whose caller waits: write them without gathering
        self.written = 0
        self.dropped = 0

    # --- callers ------------------------------------------------------------------------------
    def submit(self, rows: list[tuple], *, wait: bool = False) -> Future | None:
        """Queue rows; with wait=True return a Future resolved (to len(rows)) once they are committed.

        Never blocks on the database. Raises RuntimeError after close().
        """
        future: Future | None = Future() if wait else None
        if not rows:
            if future:
                future.set_result(0)
            return future
        with self._cond:
            if self._closed:
                raise RuntimeError("the event writer is closed")
            self._ensure_thread()
            for row in rows[:-1]:
                self._queue.append((row, None))
            self._queue.append((rows[-1], future))
            self._waiters += future is not None
            self._trim()
            if wait or len(self._queue) >= self.max_batch:
                self._cond.notify_all()  # someone is waiting, or a full batch: write now
            elif len(self._queue) == len(rows):
                self._cond.notify_all()  # the thread was idle: start its max_delay clock now
        return future

    def flush(self, timeout: float = 10.0) -> bool:
        """Wait until everything queued before this call is written. True if it was in time."""
        deadline = time.monotonic() + timeout
        with self._cond:
            self._cond.notify()
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.05))
        return True

    def close(self, timeout: float = 10.0) -> None:
        """Write what is queued, then stop the thread (idempotent; runs at exit)."""
        with self._cond:
            if self._closed:
                return
            self._closed = True
            self._cond.notify_all()
        thread = self._thread
        if thread is not None and thread.is_alive() and self._pid == os.getpid():
            thread.join(timeout)
        if self._queue:  # no thread (or it died): write on the caller's thread
            self._write_batch(self._take(len(self._queue)))

    @property
    def pending(self) -> int:
        return len(self._queue)

    # --- the thread ---------------------------------------------------------------------------
    def _ensure_thread(self) -> None:
        if self._pid != os.getpid():  # forked (gunicorn workers): the parent's thread is not ours
            self._pid, self._thread = os.getpid(), None
        if self._thread is None or not self._thread.is_alive():
            self._thread = threading.Thread(target=self._run, name="analytics-writer", daemon=True)
            self._thread.start()

    def _trim(self) -> None:
        while len(self._queue) > self.max_queue:
            _row, future = self._queue.popleft()
            self.dropped += 1
            self._waiters -= future is not None
            if future is not None and not future.done():
                future.set_exception(RuntimeError("analytics queue overflow"))
        if self.dropped and self.dropped % 10_000 == 1:
            log.error("analytics writer: queue full, %d event(s) dropped so far", self.dropped)

    def _take(self, n: int) -> list[tuple[tuple, Future | None]]:
        taken = [self._queue.popleft() for _ in range(min(n, len(self._queue)))]
        self._waiters -= sum(future is not None for _row, future in taken)
        return taken

    def _run(self) -> None:
        try:
            while True:
                with self._cond:
                    while not self._queue and not self._closed:
                        self._cond.wait()
                    if not self._queue and self._closed:
                        return
                    if len(self._queue) < self.max_batch and not self._closed and not self._waiters:
                        self._cond.wait(self.max_delay)  # let a batch gather
                    batch = self._take(self.max_batch)
                    self._busy = True
                try:
                    ok = self._write_batch(batch)
                finally:
                    with self._cond:
                        self._busy = False
                        self._cond.notify_all()
                if not ok:
                    with self._cond:  # the database is down: back off (close() cuts it short)
                        if not self._closed:
                            self._cond.wait(1.0)
        finally:
            connection.close()

    def _write_batch(self, batch: list[tuple[tuple, Future | None]]) -> bool:
        if not batch:
            return True
        rows = [row for row, _f in batch]
        append = self._append
        if append is None:
            from .capture import buffer_append as append
        try:
            close_old_connections()
            append(rows)
        except Exception as exc:
            log.exception("analytics writer: %d event(s) not written yet", len(rows))
            retry = []
            for row, future in batch:
                if future is not None:
                    future.set_exception(exc)  # the caller answers 503; its client retries
                else:
                    retry.append((row, None))
            if not self._closed:
                with self._cond:
                    self._queue.extendleft(reversed(retry))
                    self._trim()
            return False
        self.written += len(rows)
        for _row, future in batch:
            if future is not None:
                future.set_result(len(rows))
        return True


_writer: EventWriter | None = None
_writer_lock = threading.Lock()


def writer_mode() -> str:
    """ "thread" (background writer) or "sync" (write on the caller's thread): settings.ANALYTICS_WRITER."""
    return getattr(settings, "ANALYTICS_WRITER", "thread")


def event_writer() -> EventWriter:
    """The process's EventWriter, created on first use and closed (flushed) at interpreter exit."""
    global _writer
    if _writer is None:
        with _writer_lock:
            if _writer is None:
                _writer = EventWriter(
                    max_delay=getattr(settings, "ANALYTICS_WRITER_DELAY_SECONDS", 0.05),
                )
                atexit.register(_writer.close)
    return _writer
