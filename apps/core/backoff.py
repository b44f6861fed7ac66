"""When to try failed work again."""

import datetime
import random

# Seconds before attempt 2, 3, ...: quick at first for a passing hiccup, then spread over
# about five hours for an outage. Every delay stays below the broker's visibility timeout.
DELAYS = (30, 120, 600, 1800, 3600, 3600, 3600, 3600)
MAX_ATTEMPTS = len(DELAYS) + 1


def retry_delay(attempts: int) -> datetime.timedelta:
    """The wait after `attempts` failed attempts, with +-20% jitter so that work that failed
    together does not come back together."""
    base = DELAYS[min(attempts, len(DELAYS)) - 1]
    return datetime.timedelta(seconds=base * random.uniform(0.8, 1.2))
