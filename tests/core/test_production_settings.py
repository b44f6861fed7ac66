"""The settings fail closed: without DEBUG=true they are production's, and refuse public keys."""

import base64
import os
import subprocess
import sys

import pytest
from django.conf import settings

# Production's environment as the README's Deploy section lists it (keys of the right size,
# none of them published).
PRODUCTION_ENV = {
    "DEBUG": "false",  # as good as unset, and stronger than a developer's .env
    "SECRET_KEY": "7mZ2pXq9vR4tLw8sNc3bYh6kJd1fGa5eUo0iTr7yWx2zQv9pB3nM5kL8",
    "ACTIVATION_CODE_KEY": "Hq4nB8vC2xZ6mK1pL9sD3fG7jR5tY0wE8uI4oA2cV6bN1mQ3",
    "LICENSE_SIGNING_KEY": base64.b64encode(bytes(range(32))).decode(),
    "ALLOWED_HOSTS": "licensing.example.com",
    "CSRF_TRUSTED_ORIGINS": "https://licensing.example.com",
    "SITE_URL": "https://licensing.example.com",
}
# What the process is started without: anything the suite or a developer's shell may carry.
_UNSET = {
    "DEBUG",
    "SECRET_KEY",
    "ACTIVATION_CODE_KEY",
    "LICENSE_SIGNING_KEY",
    "DJANGO_SETTINGS_MODULE",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
}


def _run(*args, **env):
    """Runs manage.py with config.settings.base, as the Procfile's processes do."""
    clean = {name: value for name, value in os.environ.items() if name not in _UNSET}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=settings.BASE_DIR,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_without_debug_set_the_settings_are_production_s_and_ask_for_the_keys():
    dotenv = settings.BASE_DIR / ".env"
    if dotenv.exists() and "DEBUG" in dotenv.read_text():
        pytest.skip("this checkout's .env sets DEBUG")
    result = _run("check")

    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_debug_true_still_runs_on_the_development_defaults():
    result = _run("check", DEBUG="true")

    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize(
    "name, value",
    [
        ("SECRET_KEY", "django-insecure-keyship-development-only"),
        ("ACTIVATION_CODE_KEY", "keyship-development-activation-code-key"),
        ("SECRET_KEY", " django-insecure-keyship-development-only "),
    ],
)
def test_the_published_development_keys_are_refused_in_production(name, value):
    result = _run("check", **{**PRODUCTION_ENV, name: value})

    assert result.returncode != 0
    assert f"{name} is the published development key" in result.stderr


@pytest.mark.parametrize("name", ["SECRET_KEY", "ACTIVATION_CODE_KEY"])
@pytest.mark.parametrize("value", ["too-short-to-be-a-secret", "ab" * 40, " " * 60])
def test_a_short_or_repetitive_key_is_refused_in_production(name, value):
    result = _run("check", **{**PRODUCTION_ENV, name: value})

    assert result.returncode != 0
    assert f"{name} must be " in result.stderr


def test_a_license_signing_key_that_is_not_32_bytes_is_refused_in_production():
    result = _run("check", **{**PRODUCTION_ENV, "LICENSE_SIGNING_KEY": "bm90LWEta2V5"})

    assert result.returncode != 0
    assert "LICENSE_SIGNING_KEY must be the base64 of 32 bytes" in result.stderr


def test_the_deploy_check_is_clean_with_the_documented_production_environment():
    # The Deploy section's list names CACHE_URL: the Redis every web process shares.
    result = _run(
        "check", "--deploy", "--fail-level", "WARNING", **PRODUCTION_ENV,
        CACHE_URL="redis://cache.internal:6379/1",
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout
