"""The settings a test app is built with: TestConfig's, on the suite's database, without Redis unless asked."""

from linktrack.config import TestConfig


def app_settings(database_url: str, **overrides) -> dict:
    settings = {name: getattr(TestConfig, name) for name in dir(TestConfig) if name.isupper()}
    settings.update(SQLALCHEMY_DATABASE_URI=database_url, REDIS_URL=None)
    settings.update(overrides)
    return settings
