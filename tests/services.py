"""What the tests know of the services around them."""

import os
import shutil
from functools import cache

from django.conf import settings


@cache
def redis_available() -> bool:
    if not settings.CELERY_BROKER_URL.startswith("redis://"):
        return False
    import redis

    try:
        return bool(redis.Redis.from_url(settings.CELERY_BROKER_URL, socket_timeout=2).ping())
    except redis.RedisError:
        return False


def chromium_path() -> str | None:
    """Debian's Chromium (scripts/system-packages --browser installs it), or KEYSHIP_CHROMIUM."""
    return os.environ.get("KEYSHIP_CHROMIUM") or shutil.which("chromium")
