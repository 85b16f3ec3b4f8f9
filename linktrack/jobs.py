"""The background jobs' bodies, and only those (DESIGN.md §7): each takes ids, not objects.

Start one with `linktrack.queue.enqueue("<name>", ...)`; `rq worker` imports them from here by
name, and the cron process (`flask cron`, cron.py) enqueues the periodic ones. Importing this module builds nothing.
"""

from .counting import recount
from .counting.consumer import count_due
from .forwarding.deliveries import deliver, fan_out, recover_lost_forwarding, release_deliveries
from .queue import job, run_pending_jobs
from .tracking.cleanup import run_cleanup
from .tracking.partitions import create_click_partitions


@job
def run_due_jobs() -> dict:
    """Periodic (cron.py) and inline sweep: run or re-enqueue the pending jobs that are due, recover
    forwarding whose job was lost (a delivery's, or a conversion's fan-out: forwarding/deliveries.py),
    and run the counting consumer if it is due (counting/consumer.py: what a process stored and no
    traffic came to count since)."""
    return {
        "pending_jobs_run": run_pending_jobs(),
        **recover_lost_forwarding(),
        **count_due(),
    }


@job
def cleanup_all_creators() -> dict:
    """Periodic (cron.py): attribution cleanup for every creator; the counts are the job's result."""
    return run_cleanup().as_dict()


@job
def create_partitions_ahead() -> list[str]:
    """Periodic (cron.py), PostgreSQL: click_events' partitions for this month and the next
    MONTHS_AHEAD, and for any month the default partition holds; the names created."""
    return create_click_partitions()


@job
def forward_conversion(conversion_id: str) -> int:
    """After a conversion's commit: one delivery job per destination that wants it."""
    return fan_out(conversion_id)


@job
def deliver_forwarding(delivery_id: int) -> str:
    """One try of one delivery; it releases the creator's next waiting delivery when done."""
    return deliver(delivery_id)


@job
def release_forwarding(user_id: int) -> int:
    """When a retry is due: queue the creator's due deliveries up to their in-flight cap."""
    return release_deliveries(user_id)


@job
def rebuild_creator_days(user_id: int) -> bool:
    """After a creator changed time zone: their aggregates recounted in the new zone."""
    return recount.rebuild_creator_days(user_id)
