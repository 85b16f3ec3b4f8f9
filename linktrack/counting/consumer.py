"""The counting consumer: the one writer of the report counts, across every process and host.

Why: every click and conversion of a link on one day adds to the same few count rows (its day,
month, breakdowns and creator's day). Counted by each process's own batches, the transactions on
those rows grew with the processes (10 hosts x 4 workers, each counting 10 click batches a second,
is 400 transactions a second on a viral link's row), and a batch waiting on their locks made the
redirect wait. Now a click batch and a conversion only insert their rows, among them an
UncountedClick or UncountedConversion; a counting run deletes every uncounted row (up to
COUNT_BATCH of each kind) and adds them, in one transaction (counters.count_uncounted).

One run at a time, at most every CLICK_COUNT_SECONDS (0.5 s) across all hosts:
- After its batch commits, a process asks its consumer thread to count
  (`CountingConsumer.count_within`): after a click batch within CLICK_COUNT_SECONDS, after a
  conversion within CONVERSION_COUNT_SECONDS (`conversion_stored`).
- A run takes a transaction-level lock (dialect.lock_for_transaction: PostgreSQL's advisory lock);
  a process that finds it held does not wait: it tries again a period later (the run that holds it
  may have started before its batch committed). Then the run reads when the last run was, by the
  database's clock (CountingRun); too recent, it ends and says when to try again.
- So the count rows see at most one transaction per period, whatever the number of processes, and
  the transactions that wait for nothing but a try-lock are the losers' (about one per process and
  period, while it has something new).
- A run counts everything uncounted that is committed, whoever stored it: what a killed process
  stored is counted by the next run (nothing is lost, nothing counted twice, since counting a row
  and deleting it commit together). With no traffic at all, the minute sweep runs it
  (jobs.run_due_jobs), so nothing waits for the next click.

Reports trail a click by about CLICK_FLUSH_SECONDS + CLICK_COUNT_SECONDS (0.6 s by default), a
conversion by about CONVERSION_COUNT_SECONDS; the limit: a process that found a run in progress
tries a period later, so what it stored may wait one period more. With 0 (the tests) the counting
runs inside the call that stored the events, waiting for the lock, so a test reads the counts of
what it just did.
"""

import logging
import os
import threading
import time
import weakref
from dataclasses import dataclass

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.engine import Engine

from .. import dialect
from ..extensions import db
from ..models import CountingRun, UncountedClick, UncountedConversion
from .buffer import STALLED_SECONDS
from .counters import count_uncounted

log = logging.getLogger(__name__)

COUNTING_LOCK = 0x6C74_636F_756E_7473  # the key that runs one counting transaction at a time ("ltcounts")
COUNT_BATCH = 10_000  # uncounted rows of each kind one run takes; 20,000 clicks a second at 0.5 s
CONSUMER = "counters"
RETRY_SECONDS = 1.0  # after a run that failed (the database away, a deadlock with a recount)
IDLE_SECONDS = 10.0  # a consumer thread with nothing to count for this long ends; the next batch starts one
RUNS = CountingRun.__table__
_EXTENSION_KEY = "linktrack_counting_consumer"
_consumers: "weakref.WeakSet[CountingConsumer]" = weakref.WeakSet()


@dataclass(frozen=True)
class Run:
    """What one try did: how many events it counted, and when (seconds from now) this process
    should try again, None when it counted everything it took."""

    clicks: int = 0
    conversions: int = 0
    again_in: float | None = None


def count_once(engine: Engine, period: float, wait: bool = False) -> Run:
    """One counting transaction, if no other runs and the last one ended `period` seconds ago or
    more (with `wait`: waiting for another to end, and whenever the last one was)."""
    with engine.begin() as connection:
        if not dialect.lock_for_transaction(connection, COUNTING_LOCK, wait):
            return Run(again_in=period)
        if not wait and (left := _not_due_for(connection, period)) > 0:
            return Run(again_in=left)
        _mark_run(connection)
        clicks, conversions = count_uncounted(connection, COUNT_BATCH)
    more = COUNT_BATCH in (clicks, conversions)
    return Run(clicks, conversions, again_in=period if more else None)


def hold_counting(connection) -> None:
    """Wait for a counting run in progress and keep the next from starting until `connection`'s
    transaction ends: for a change the runs read (a creator's time zone, auth/service.py)."""
    dialect.lock_for_transaction(connection, COUNTING_LOCK, wait=True)


def _not_due_for(connection, period: float) -> float:
    """Seconds until the next run is due (0 or less: now), by the database's clock."""
    since = dialect.epoch_now(connection.dialect.name) - RUNS.c.counted_at
    elapsed = connection.scalar(select(since).where(RUNS.c.consumer == CONSUMER))
    return 0.0 if elapsed is None else period - elapsed


def _mark_run(connection) -> None:
    now = dialect.epoch_now(connection.dialect.name)
    statement = dialect.insert(RUNS, connection.dialect.name).values(consumer=CONSUMER, counted_at=now)
    connection.execute(statement.on_conflict_do_update(index_elements=["consumer"], set_={"counted_at": now}))


def count_now() -> Run:
    """Count everything uncounted now, waiting for a run in progress (needs an app context): for
    tests, benchmarks and commands that read the counts next. Returns the totals counted."""
    clicks = conversions = 0
    while True:
        run = count_once(db.engine, 0.0, wait=True)
        clicks, conversions = clicks + run.clicks, conversions + run.conversions
        if run.again_in is None:
            return Run(clicks, conversions)


def count_due() -> dict:
    """A run if one is due and none is running (the minute sweep, jobs.run_due_jobs: what a process
    stored and never saw counted, when no traffic starts a run). Returns what it counted."""
    run = count_once(db.engine, current_app.config["CLICK_COUNT_SECONDS"])
    return {"clicks_counted": run.clicks, "conversions_counted": run.conversions}


def backlog() -> dict:
    """What waits to be counted, across every host (needs an app context; for /metrics): the
    uncounted clicks and conversions, and seconds since the last run by the database's clock
    (None before the first). A backlog that grows, or runs that stop, mean reports stop moving."""
    session = db.session
    name = session.get_bind().dialect.name
    since = session.scalar(select(dialect.epoch_now(name) - RUNS.c.counted_at).where(RUNS.c.consumer == CONSUMER))
    return {
        "clicks": session.scalar(select(func.count()).select_from(UncountedClick)),
        "conversions": session.scalar(select(func.count()).select_from(UncountedConversion)),
        "seconds_since_run": since,
    }


def conversion_stored() -> None:
    """After a conversion's commit (needs an app context): count it within CONVERSION_COUNT_SECONDS.
    Never raises: what is left uncounted is counted by the next run, whoever starts it."""
    try:
        consumer().count_within(current_app.config["CONVERSION_COUNT_SECONDS"])
    except Exception:
        log.exception("a conversion stored; counting it failed, the next run counts it")


def counting_stalled(now: float) -> str | None:
    """Why this process's counting consumer is not keeping up (CountingConsumer.stalled), or None;
    None too before this process first counted (needs an app context; opens nothing)."""
    found = current_app.extensions.get(_EXTENSION_KEY)
    return found.stalled(now) if found is not None else None


def consumer() -> "CountingConsumer":
    """This app's consumer in this process (needs an app context)."""
    found = current_app.extensions.get(_EXTENSION_KEY)
    if found is None:
        found = current_app.extensions.setdefault(
            _EXTENSION_KEY, CountingConsumer(db.engine, current_app.config["CLICK_COUNT_SECONDS"])
        )
    return found


class CountingConsumer:
    """A thread that tries a counting run when asked, at most every `period` seconds, and again
    until a run it made has counted everything (a held lock or a run not yet due is tried again
    later). One per app and process; a forked child starts without the parent's."""

    def __init__(self, engine: Engine, period: float):
        self.engine = engine
        self.period = period
        self._reset()
        _consumers.add(self)

    def _reset(self) -> None:
        self._wakeup = threading.Condition()
        self._due: float | None = None  # monotonic time of the next try; None: nothing to count
        self._thread: threading.Thread | None = None
        # Wall-clock times (time.time()) of the run in progress and of the first of the runs that
        # failed since the last one that worked; None when there is none.
        self._running_since: float | None = None
        self._failing_since: float | None = None

    def stalled(self, now: float) -> str | None:
        """Why this process's counting is not keeping up, or None: a run has waited (on a lock) or
        runs have failed for more than STALLED_SECONDS. A run another process holds is not this
        process's trouble: it tries again a period later. `now` is time.time()."""
        if self._running_since is not None and (age := now - self._running_since) > STALLED_SECONDS:
            return f"a counting run has waited {age:.0f} s"
        if self._failing_since is not None and (age := now - self._failing_since) > STALLED_SECONDS:
            return f"counting runs failing for {age:.0f} s"
        return None

    def count_within(self, seconds: float) -> None:
        """Try a run within `seconds` (0: now, in this call, waiting for a run in progress). Never
        raises: a run that fails is tried again RETRY_SECONDS later (the thread) or by the next one."""
        if seconds <= 0:
            try:
                count_once(self.engine, self.period, wait=True)
            except Exception:
                log.exception("counting run failed; the next run counts what is left")
            return
        with self._wakeup:
            due = time.monotonic() + seconds
            if self._due is None or due < self._due:
                self._due = due
                self._wakeup.notify()
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="counting-consumer", daemon=True)
                try:
                    thread.start()
                except RuntimeError:  # the interpreter is exiting (a batch written at exit): the next run counts it
                    self._due = None
                    return
                self._thread = thread

    def _run(self) -> None:
        while True:
            with self._wakeup:
                if self._due is None:
                    self._wakeup.wait(IDLE_SECONDS)
                    if self._due is None:
                        self._thread = None
                        return
                if (left := self._due - time.monotonic()) > 0:
                    self._wakeup.wait(left)
                    continue
                self._due = None
            self._running_since = time.time()
            try:
                again_in = count_once(self.engine, self.period).again_in
                self._failing_since = None
            except Exception as exc:
                log.warning("counting run failed, trying again in %.0f s: %s", RETRY_SECONDS, exc)
                again_in = RETRY_SECONDS
                self._failing_since = self._failing_since or self._running_since
            finally:
                self._running_since = None
            if again_in is not None:
                self.count_within(again_in)


def _forget_parents_consumers() -> None:
    """In a forked child the parent's thread does not exist (what it had to count is in the database)."""
    for found in list(_consumers):
        found._reset()


os.register_at_fork(after_in_child=_forget_parents_consumers)
