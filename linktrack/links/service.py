"""Campaign links: short codes (more in issue 3's link management)."""

import secrets
import string

SHORT_CODE_ALPHABET = string.ascii_letters + string.digits
SHORT_CODE_LENGTH = 7  # 62**7 ≈ 3.5e12 codes: random draws almost never collide


def generate_short_code(length: int = SHORT_CODE_LENGTH) -> str:
    """A random, non-sequential, URL-safe code. Callers retry on the rare unique-constraint clash."""
    return "".join(secrets.choice(SHORT_CODE_ALPHABET) for _ in range(length))
