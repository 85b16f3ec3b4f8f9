"""Hypothesis settings every property test shares: derandomized, no example database, so CI sees the
same examples every time."""

from hypothesis import HealthCheck, settings

PROPERTIES = settings(max_examples=200, derandomize=True, database=None, deadline=None)
# For tests whose app fixture is only read (app context, url_map, an empty-enough database), never
# changed by an example.
WITH_APP = settings(PROPERTIES, max_examples=100, suppress_health_check=[HealthCheck.function_scoped_fixture])
