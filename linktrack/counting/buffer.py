"""A write-behind buffer: clicks are written in small batches by a background thread.

Why: measured with bench/redirect.py on a 2-CPU machine, an INSERT and COMMIT per click while
the viewer waits held the redirect to 27% of a bare Flask 302's throughput with a p99 of 30 ms
(40% on a dedicated autocommit connection without durable commits); one batch per interval
gives 59% with a p99 of 14 ms, every click stored (83% with the fast path of redirect.py, at 0.1 s).

The trade, and its limits:
- A click reaches the database up to `flush_seconds` (0.1 s by default) after its 302. A
  conversion for it cannot realistically arrive sooner: the landing page has to load first.
- A clean shutdown (SIGTERM or SIGINT, gunicorn's graceful stop and worker recycling, any
  normal interpreter exit) writes what is buffered, from an atexit hook. A process killed
  outright (SIGKILL, out of memory, power loss) loses the clicks of its last `flush_seconds`.
- The buffer is bounded: past MAX_PENDING clicks (a database slower than the traffic), the
  request that adds one writes the backlog itself.
- `flush_seconds` 0 writes each click inside its request instead (the test suite's setting).
- The database unreachable (a restart, a failover: `write` raises WriteLater) costs no click:
  the batch goes back to the front of the buffer and is tried again every RETRY_SECONDS, in
  click order, with nothing written inside requests meanwhile. The bound: at most MAX_HELD
  clicks (about 1 KB each) are held per process; past that the oldest are dropped and logged
  with their tracking ids, as are clicks still held when the process exits.
- `stalled()` says when the writer is not keeping up (GET /readyz asks it, web/health.py): its
  thread died with rows waiting, or the oldest row not yet written (buffered, held, or in a batch
  being written) has waited more than STALLED_SECONDS.

One writer per app and process; a forked child starts with an empty buffer of its own.
"""

import atexit
import logging
import os
import sys
import threading
import time
import weakref
from collections.abc import Callable

from .. import metrics

log = logging.getLogger(__name__)

MAX_BATCH = 500
MAX_PENDING = 5_000
IDLE_SECONDS = 10.0  # a thread with nothing to write for this long ends; the next click starts one
RETRY_SECONDS = 1.0  # how often held clicks are tried again while the database is unreachable
MAX_HELD = 20_000  # clicks held per process while the database is unreachable (about 20 MB)
# A row not written after this long means the writer is stuck (a batch waiting on a lock, the
# database refusing): far above flush_seconds and RETRY_SECONDS, below a balancer's patience.
STALLED_SECONDS = 30.0
# How long a thread may hold the GIL while another waits for it (Python's default is 5 ms). A batch
# is Python work in the writer thread; a request arriving meanwhile waited up to 5 ms at each of
# its own turns. At 1 ms, bench/redirect.py's p99 went from 30 ms to 24 ms, throughput unchanged.
GIL_TURN_SECONDS = 0.001

_writers: "weakref.WeakSet[ClickWriter]" = weakref.WeakSet()


class WriteLater(Exception):
    """Raised by a writer's `write` when none of the batch was written and a later try may work."""


def _log_dropped(rows: list[dict], exc: Exception) -> None:
    log.error("%d click(s) not stored", len(rows), exc_info=exc)


class ClickWriter:
    """Collects rows and hands them to `write` in batches, at most `flush_seconds` after the first.

    `lost(rows, exc)` is told of rows given up on (past MAX_HELD, or held at exit).
    """

    def __init__(
        self,
        write: Callable[[list[dict]], None],
        flush_seconds: float,
        lost: Callable[[list[dict], Exception], None] = _log_dropped,
        rows_name: str = "clicks",
    ):
        self.write = write
        self.flush_seconds = flush_seconds
        self.lost = lost
        self.rows_name = rows_name  # what its log lines call the rows (the conversion counter reuses it)
        self._closed = False
        self._reset()
        _writers.add(self)

    def _reset(self) -> None:
        self._pending: list[dict] = []
        self._wakeup = threading.Condition()
        self._writing = threading.Lock()  # one batch at a time, so rows arrive in click order
        self._thread: threading.Thread | None = None
        self._retry_at: float | None = None  # set while the last write was refused (monotonic time)
        # Wall-clock times (time.time(), as the rows' own timestamps) of the oldest row buffered and
        # of the oldest row of the batch being written; None when there is none.
        self._pending_since: float | None = None
        self._writing_since: float | None = None

    @property
    def held(self) -> int:
        """Rows waiting to be written (buffered, or held while the database is unreachable)."""
        return len(self._pending)

    def stalled(self, now: float) -> str | None:
        """Why this writer is not keeping up, or None: its thread died with rows waiting, or a row
        has waited more than STALLED_SECONDS to be written. `now` is time.time()."""
        thread = self._thread
        if self._pending and thread is not None and not thread.is_alive():
            return f"its writer thread ended with {len(self._pending)} {self.rows_name} waiting"
        waiting = [since for since in (self._writing_since, self._pending_since) if since is not None]
        if waiting and (age := now - min(waiting)) > STALLED_SECONDS:
            return f"{self.rows_name} not written for {age:.0f} s ({self.held} waiting)"
        return None

    def submit(self, row: dict) -> None:
        if self._closed or (self.flush_seconds <= 0 and self._retry_at is None):
            try:
                self.write([row])
                return
            except WriteLater as exc:
                if self._closed:
                    self.lost([row], exc)
                    return
                self._hold([], exc)  # from now on clicks queue behind the held ones
        with self._wakeup:
            self._pending.append(row)
            backlog = len(self._pending)
            if backlog == 1:
                self._pending_since = time.time()
            retrying = self._retry_at is not None
            if self._thread is None:
                self._start_thread()
            elif not retrying and (backlog == 1 or backlog >= MAX_BATCH):
                self._wakeup.notify()
        metrics.buffer_rows(self.rows_name, backlog, held=retrying)
        if retrying:
            if backlog > MAX_HELD:
                self._drop_oldest()
        elif backlog >= MAX_PENDING:
            self.flush()

    def flush(self) -> int:
        """Write everything buffered now. Returns how many rows were written; rows the database
        could not take yet stay buffered (held) for the next try."""
        with self._writing:
            with self._wakeup:
                rows, self._pending = self._pending, []
                self._writing_since, self._pending_since = self._pending_since, None
            try:
                for start in range(0, len(rows), MAX_BATCH):
                    try:
                        self.write(rows[start : start + MAX_BATCH])
                    except WriteLater as exc:
                        self._hold(rows[start:], exc, since=self._writing_since)
                        return start
            finally:
                self._writing_since = None
            if self._retry_at is not None:
                log.warning("database reachable again: held %s written", self.rows_name)
                self._retry_at = None
            metrics.buffer_rows(self.rows_name, len(self._pending), held=False)
            return len(rows)

    def write_submitted(self) -> bool:
        """Write every row submitted so far, waiting for a batch the thread is writing; whether
        there was any (buffered or being written). A row is always in one of those two places or
        written: the thread takes `_writing` before it empties the buffer."""
        if not self._pending and not self._writing.locked():
            return False
        self.flush()
        return True

    def _hold(self, rows: list[dict], exc: WriteLater, since: float | None = None) -> None:
        """Put unwritten rows back in front of the newer ones, to be tried again in RETRY_SECONDS;
        `since` is when the oldest of them was buffered."""
        with self._wakeup:
            if self._closed:
                self._pending, rows = [], rows + self._pending
                self._pending_since = None
                self.lost(rows, exc)
                return
            if self._retry_at is None:
                log.warning(
                    "database unreachable: holding %s, trying again every %.0f s", self.rows_name, RETRY_SECONDS
                )
            self._pending[:0] = rows
            if rows and since is not None:
                self._pending_since = since if self._pending_since is None else min(since, self._pending_since)
            self._retry_at = time.monotonic() + RETRY_SECONDS
            if self._thread is not None:
                self._wakeup.notify()  # a thread waiting for a batch to fill now waits for the retry
            elif self._pending:  # held by a flush() from outside the writer (submit starts its own)
                self._start_thread()
        self._drop_oldest()
        metrics.buffer_rows(self.rows_name, len(self._pending), held=True)

    def _start_thread(self) -> None:
        """Called holding self._wakeup."""
        _shorten_gil_turns()
        self._thread = threading.Thread(target=self._run, name="click-writer", daemon=True)
        self._thread.start()

    def _drop_oldest(self) -> None:
        with self._wakeup:
            excess = len(self._pending) - MAX_HELD
            if excess <= 0:
                return
            dropped, self._pending = self._pending[:excess], self._pending[excess:]
        self.lost(dropped, WriteLater(f"more than {MAX_HELD} clicks held while the database is unreachable"))

    def close(self) -> None:
        """Stop the thread and write what is left; later clicks are written inside their request."""
        with self._wakeup:
            self._closed = True
            thread = self._thread
            self._wakeup.notify()
        if thread is not None:
            thread.join(timeout=30)
        self.flush()

    def _run(self) -> None:
        while True:
            with self._wakeup:
                if not self._pending and not self._closed:
                    self._wakeup.wait(IDLE_SECONDS)
                if self._closed or not self._pending:
                    self._thread = None
                    return
                if self._retry_at is None and len(self._pending) < MAX_BATCH:
                    self._wakeup.wait(self.flush_seconds)  # let the batch fill for one interval
                # The database refused a batch (now, or during that interval): wait until the next try.
                while not self._closed and self._retry_at is not None:
                    if (left := self._retry_at - time.monotonic()) <= 0:
                        break
                    self._wakeup.wait(left)
                if self._closed:
                    self._thread = None
                    return
            try:
                self.flush()
            except Exception:  # `write` should log its own failures; the thread must outlive them
                log.exception("batch of %s not written", self.rows_name)


def _shorten_gil_turns() -> None:
    """Set once a writer thread starts (it is what requests share the GIL with); never lengthened."""
    if sys.getswitchinterval() > GIL_TURN_SECONDS:
        sys.setswitchinterval(GIL_TURN_SECONDS)


def _close_all() -> None:
    for writer in list(_writers):
        writer.close()


def _forget_parents_buffers() -> None:
    """In a forked child the parent's rows are the parent's to write, and its thread does not exist."""
    for writer in list(_writers):
        writer._reset()


atexit.register(_close_all)
os.register_at_fork(after_in_child=_forget_parents_buffers)
