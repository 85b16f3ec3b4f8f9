"""Jobs kept in the database until they can run."""

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from .base import JSONType, UTCDateTime, utcnow


class PendingJob(db.Model):
    """A job kept in the database until it can run: enqueued while Redis was down, or due later
    with no Redis to schedule it (linktrack.jobs.run_due_jobs runs or re-enqueues it)."""

    __tablename__ = "pending_jobs"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    job_name: Mapped[str] = mapped_column(String(100), nullable=False)
    args: Mapped[list] = mapped_column(JSONType, default=list, nullable=False)
    run_after: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, nullable=False)
