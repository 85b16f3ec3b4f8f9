"""The data model of DESIGN.md §4: columns, relations and small query helpers only, one module per room.

Everything is importable from here (`from linktrack.models import CampaignLink`), so a table's
module can change without its callers knowing.
"""

from .base import DEFAULT_ATTRIBUTION_WINDOW_DAYS, EVENT_TYPES, JSONType, UTCDateTime, utcnow
from .counters import (
    CountingRun,
    LinkDailyBreakdown,
    LinkDailyLag,
    LinkDailyRevenue,
    LinkDailyStats,
    LinkMonthlyStats,
    ReportCounters,
    UserDailyStats,
)
from .events import CleanupCursor, ClickEvent, ConversionEvent, UncountedClick, UncountedConversion
from .forwarding import ForwardingAttempt, ForwardingDelivery, ForwardingDestination
from .jobs import PendingJob
from .links import CampaignLink, TrackerSighting
from .users import ApiKey, PasswordResetToken, User

__all__ = [
    "DEFAULT_ATTRIBUTION_WINDOW_DAYS",
    "EVENT_TYPES",
    "ApiKey",
    "CampaignLink",
    "CleanupCursor",
    "ClickEvent",
    "ConversionEvent",
    "CountingRun",
    "ForwardingAttempt",
    "ForwardingDelivery",
    "ForwardingDestination",
    "JSONType",
    "LinkDailyBreakdown",
    "LinkDailyLag",
    "LinkDailyRevenue",
    "LinkDailyStats",
    "LinkMonthlyStats",
    "PasswordResetToken",
    "PendingJob",
    "ReportCounters",
    "TrackerSighting",
    "UTCDateTime",
    "UncountedClick",
    "UncountedConversion",
    "User",
    "UserDailyStats",
    "utcnow",
]
