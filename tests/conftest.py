import pytest
from django.conf import settings
from django.db import connection

from tests.services import chromium_path, hosts_missing, redis_available


def pytest_runtest_setup(item):
    """Tests that need PostgreSQL, Redis, Chromium or the hosts' tools (root, ip, PostgreSQL's
    and Redis' binaries) skip without them, and fail under .ci/run."""
    needs = []
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        needs.append(f"PostgreSQL (DATABASE_URL points at {connection.vendor})")
    if item.get_closest_marker("redis") and not redis_available():
        needs.append(f"Redis (CELERY_BROKER_URL is {settings.CELERY_BROKER_URL})")
    if item.get_closest_marker("browser") and not chromium_path():
        needs.append("Chromium (make test installs Debian's chromium package)")
    if item.get_closest_marker("hosts"):
        needs.extend(hosts_missing())
    if needs:
        message = "needs " + " and ".join(needs)
        if settings.REQUIRE_SERVICES:
            pytest.fail(message + ", which .ci/run must provide", pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture(autouse=True)
def _cache():
    """Rate-limit counts start at zero in every test."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def staff_user(db):
    from tests.factories.accounts import UserFactory

    return UserFactory(is_staff=True)


@pytest.fixture
def smtp(settings):
    """An SMTP server on this machine, with Django's SMTP backend pointed at it."""
    from tests.smtp import SmtpServer

    with SmtpServer() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        yield server.sink


@pytest.fixture
def products(db):
    """The two products the example orders (tests.api.conftest.order_body) name."""
    from tests.factories.catalog import ProductFactory

    return {
        "KS-FW-ADV": ProductFactory(sku="KS-FW-ADV", name="Advanced Routing"),
        "KS-TD-1Y": ProductFactory(sku="KS-TD-1Y", name="Threat Defense", subscription=True),
    }
