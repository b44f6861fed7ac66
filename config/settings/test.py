"""Test settings: the base settings with fast hashing, in-memory mail and eager-free Celery.

DATABASE_URL and CELERY_BROKER_URL still come from the environment, so `.ci/run` points
the suite at PostgreSQL and Redis.
"""

import atexit
import base64
import os
import shutil
import tempfile

# The suite runs as production does (DEBUG off), on keys of its own that pass production's
# checks; set before the base settings read them, and seen by the processes tests start.
os.environ["DEBUG"] = "false"
os.environ["SECRET_KEY"] = "keyship-test-secret-key-" + "t" * 40
os.environ["ACTIVATION_CODE_KEY"] = "keyship-test-activation-code-key"
os.environ["LICENSE_SIGNING_KEY"] = base64.b64encode(b"keyship-test-license-signing-key").decode()

# The suite's metrics go to a folder of its own (one per test process, so that parallel runs
# do not count each other's work); the processes its tests start inherit it.
if "PROMETHEUS_MULTIPROC_DIR" not in os.environ:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="keyship-test-metrics-")
    atexit.register(shutil.rmtree, os.environ["PROMETHEUS_MULTIPROC_DIR"], ignore_errors=True)

from .base import *  # noqa: E402, F403
from .base import DATABASES, env  # noqa: E402

# The test client and the browser tests' live server speak plain HTTP.
SECURE_SSL_REDIRECT = False
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
# Tests that need a service fail instead of skipping when this is set (.ci/run sets it).
REQUIRE_SERVICES = env.bool("KEYSHIP_REQUIRE_SERVICES", default=False)
# Tasks run in the test's own process as soon as they are queued; the tests of the worker
# and the broker start a real Celery worker on Redis.
CELERY_TASK_ALWAYS_EAGER = True
# The live server's request threads close their connections when a request ends, so that
# the test database can be dropped at the end of the run.
DATABASES["default"]["CONN_MAX_AGE"] = 0
