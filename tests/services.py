"""What the tests know of the services around them."""

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
