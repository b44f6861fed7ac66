"""`manage.py check --deploy`: settings that hold state in one process or on one host, where
production runs several of each."""

from django.conf import settings
from django.core.checks import Tags, Warning, register


@register(Tags.caches, deploy=True)
def shared_cache_check(app_configs, **kwargs):
    backend = settings.CACHES["default"]["BACKEND"]
    if settings.DEBUG or not backend.endswith(("LocMemCache", "DummyCache", "FileBasedCache")):
        return []
    return [
        Warning(
            "The cache is this process's own (CACHE_URL is unset): rate limits and login "
            "lockouts are counted per web process and per host, so each adds its own "
            "allowance.",
            hint="Set CACHE_URL to the Redis every host reaches (redis://host:6379/1).",
            id="keyship.W002",
        )
    ]
