"""The README's Deploy section, step by step: the Procfile's `release`, then its `web`.

Production's settings (DEBUG unset, keys of its own) on the suite's PostgreSQL database; the
requests come as a TLS-terminating proxy forwards them.
"""

import http.client
import os
import re
import signal
import socket
import subprocess
import sys
import time
from http.cookies import SimpleCookie
from pathlib import Path
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.contrib.auth.hashers import make_password
from django.db import connection

from tests.core.test_production_settings import PRODUCTION_ENV
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

PASSWORD = "a-long-deploy-password"
METRICS_TOKEN = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822c"


def _procfile() -> dict[str, str]:
    lines = (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if ": " in line)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _production_env(tmp_path, port: int) -> dict:
    db = connection.settings_dict
    login = f"{db['USER']}:{db['PASSWORD'] or ''}"
    unset = {"DEBUG", "SECRET_KEY", "ACTIVATION_CODE_KEY", "LICENSE_SIGNING_KEY"}
    inherited = {name: value for name, value in os.environ.items() if name not in unset}
    return {
        **inherited,
        **PRODUCTION_ENV,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "ALLOWED_HOSTS": "licensing.example.com",
        "CSRF_TRUSTED_ORIGINS": "https://licensing.example.com",
        "DATABASE_URL": f"postgres://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        # Rate limits and login lockouts counted in the Redis every web process shares.
        "CACHE_URL": settings.CELERY_BROKER_URL,
        "STATIC_ROOT": str(tmp_path / "static"),
        "MEDIA_ROOT": str(tmp_path / "media"),
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "METRICS_TOKEN": METRICS_TOKEN,
        # The host's folder for the processes' metrics (not the suite's own).
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }


class Proxy:
    """What a TLS-terminating proxy sends on: the public host name and X-Forwarded-Proto."""

    def __init__(self, port: int, address: str = "127.0.0.1"):
        self.port, self.address = port, address
        self.cookies = SimpleCookie()

    def request(self, method, path, body=None, https=True, headers=()):
        headers = {"Host": "licensing.example.com", **dict(headers)}
        if https:
            headers["X-Forwarded-Proto"] = "https"
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={m.value}" for k, m in self.cookies.items())
        if body is not None:
            body = urlencode(body)
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            headers["Origin"] = "https://licensing.example.com"
        server = http.client.HTTPConnection(self.address, self.port, timeout=30)
        server.request(method, path, body=body, headers=headers)
        response = server.getresponse()
        response.body = response.read()
        response.text = response.body.decode(errors="replace")
        for cookie in response.headers.get_all("Set-Cookie") or []:
            self.cookies.load(cookie)
        server.close()
        return response

    def sign_in(self, path, email, password=PASSWORD):
        page = self.request("GET", path)
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        fields = {"csrfmiddlewaretoken": token, "username": email, "password": password}
        return self.request("POST", path, body=fields)


def _wait_for(port: int, web, timeout=60):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert web.poll() is None, "the web process ended"
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise AssertionError("the web process never listened")


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_documented_deploy_serves_the_portal_and_the_admin(tmp_path, settings):
    # Given the users of a running deployment (with production's password hasher)
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    northwind = new_account(name="Northwind Networks")
    alice = portal_contact(northwind, email="alice@northwind.example")
    entitlement = entitlement_of(northwind, certificate=False)
    superuser = UserFactory(email="admin@licensing.example.com", is_staff=True, is_superuser=True)
    for user in (alice.user, superuser):
        user.password = make_password(PASSWORD)
        user.save()
    procfile = _procfile()
    port = _free_port()
    env = _production_env(tmp_path, port)
    log = open(tmp_path / "web.log", "w")

    # When the configuration is checked, the release step runs, then the web process
    # starts, as the README says
    check = subprocess.run(
        ["bash", "-c", "python manage.py check --deploy --fail-level WARNING"],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert check.returncode == 0, check.stdout + check.stderr
    release = subprocess.run(
        ["bash", "-c", procfile["release"]],
        cwd=settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert release.returncode == 0, release.stdout + release.stderr
    web = subprocess.Popen(
        ["bash", "-c", "exec " + procfile["web"]],
        cwd=settings.BASE_DIR,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        _wait_for(port, web)
        proxy = Proxy(port)

        # Then plain HTTP is sent to HTTPS
        plain = proxy.request("GET", "/account/login/", https=False)
        assert plain.status == 301
        assert plain.getheader("Location") == "https://licensing.example.com/account/login/"

        # Except the health check, which a load balancer may probe over plain HTTP
        assert proxy.request("GET", "/healthz", https=False).status == 200

        # And the portal's login page answers, with its stylesheet, and production's headers
        login = proxy.request("GET", "/account/login/")
        assert login.status == 200, (tmp_path / "web.log").read_text()[-3000:]
        assert "max-age=31536000" in login.getheader("Strict-Transport-Security")
        assert "script-src 'self'" in login.getheader("Content-Security-Policy")
        assert login.getheader("X-Frame-Options") == "DENY"
        assert "no-store" in login.getheader("Cache-Control")
        stylesheet = re.search(r'href="(/static/portal/portal\.[0-9a-f]+\.css)"', login.text)
        assert stylesheet, "the stylesheet's name carries its hash"
        css = proxy.request("GET", stylesheet.group(1))
        assert css.status == 200 and "max-age=315360000" in css.getheader("Cache-Control")

        # And a customer signs in and sees the entitlement, in a page no cache keeps
        assert proxy.sign_in("/account/login/", alice.user.email).status == 302
        page = proxy.request("GET", "/entitlements/")
        assert page.status == 200 and entitlement.ssrn in page.text
        assert "no-store" in page.getheader("Cache-Control")
        assert proxy.cookies["sessionid"]["secure"]

        # And the admin's login page and, signed in, its front page answer with its styles
        admin = Proxy(port)
        assert admin.request("GET", "/admin/login/").status == 200
        assert admin.sign_in("/admin/login/", "admin@licensing.example.com").status == 302
        front = admin.request("GET", "/admin/")
        assert front.status == 200 and "Customer Care and Operations" in front.text
        admin_css = re.search(r'href="(/static/admin/css/base\.[0-9a-f]+\.css)"', front.text)
        assert admin_css and admin.request("GET", admin_css.group(1)).status == 200

        # And Prometheus, scraping the web process directly over plain HTTP with its token,
        # sees a refused sign-in counted by the worker that refused it
        wrong = Proxy(port)
        page = wrong.request("GET", "/account/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text).group(1)
        fields = {"csrfmiddlewaretoken": token, "username": alice.user.email, "password": "x"}
        assert wrong.request("POST", "/account/login/", body=fields).status == 200
        assert proxy.request("GET", "/metrics", https=False).status == 401
        scrape = proxy.request(
            "GET", "/metrics", https=False, headers={"Authorization": f"Bearer {METRICS_TOKEN}"}
        )
        assert scrape.status == 200, (tmp_path / "web.log").read_text()[-3000:]
        assert 'keyship_logins_refused_total{reason="credentials"} 1.0' in scrape.text
    finally:
        os.killpg(web.pid, signal.SIGTERM)
        web.wait(timeout=30)
        log.close()
