"""What the tests know of the services around them."""

import os
import shutil
from functools import cache
from glob import glob
from pathlib import Path

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


def postgres_bin() -> Path | None:
    """The folder of the newest PostgreSQL's server binaries (Debian's layout), if any."""
    found = glob("/usr/lib/postgresql/*/bin/postgres")
    found.sort(key=lambda path: int(path.split("/")[4]))
    return Path(found[-1]).parent if found else None


def hosts_missing() -> list[str]:
    """What this machine lacks to build hosts as network namespaces (tests/test_multi_host)."""
    missing = []
    if os.geteuid() != 0:
        missing.append("root (to make network namespaces)")
    if not shutil.which("ip"):
        missing.append("the ip command (iproute2)")
    if not postgres_bin():
        missing.append("PostgreSQL's server binaries (/usr/lib/postgresql/*/bin)")
    if not shutil.which("redis-server"):
        missing.append("redis-server")
    return missing
