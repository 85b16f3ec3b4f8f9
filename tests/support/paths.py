"""Where the repository's files are, for tests that read them (README, migrations, vendored assets)."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_ASSETS = REPO_ROOT / "tests" / "assets"
