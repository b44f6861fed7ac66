import pytest
from django.conf import settings
from django.db import connection

from tests.services import redis_available


def pytest_runtest_setup(item):
    """Tests that need PostgreSQL or Redis skip without them, and fail under .ci/run."""
    needs = []
    if item.get_closest_marker("postgres") and connection.vendor != "postgresql":
        needs.append(f"PostgreSQL (DATABASE_URL points at {connection.vendor})")
    if item.get_closest_marker("redis") and not redis_available():
        needs.append(f"Redis (CELERY_BROKER_URL is {settings.CELERY_BROKER_URL})")
    if needs:
        message = "needs " + " and ".join(needs)
        if settings.REQUIRE_SERVICES:
            pytest.fail(message + ", which .ci/run must provide", pytrace=False)
        pytest.skip(message)


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"


@pytest.fixture
def staff_user(db):
    from tests.factories.accounts import UserFactory

    return UserFactory(is_staff=True)
