"""No typed activation code reaches the web server's access log.

The Procfile's `web` process (read from the Procfile, so the test follows it) runs for real
on a free port against the test database. A customer searches the portal by an activation
code and a member of staff uses Find, both signed in as a browser would; old addresses that
still carry a code (a bookmark, a list's search, a Referer) are asked too. Every request is
in gunicorn's access log, and no spelling of the code is.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from django.conf import settings
from django.db import connection

from tests.factories.accounts import UserFactory
from tests.portal.helpers import code_spellings, entitlement_of, new_account, portal_contact

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

PASSWORD = "password"  # the factories' password
CSRF = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def procfile_command(process: str) -> str:
    for line in (Path(settings.BASE_DIR) / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() == process:
            return command.strip()
    raise LookupError(f"the Procfile names no {process} process")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def web_env(port: int, runtime: Path) -> dict:
    db = connection.settings_dict
    login = f"{db['USER']}:{db['PASSWORD'] or ''}"
    return {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "PORT": str(port),
        "WEB_CONCURRENCY": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DEBUG": "true",  # plain HTTP on this machine: cookies without the Secure flag
        "SECRET_KEY": settings.SECRET_KEY,
        "ACTIVATION_CODE_KEY": settings.ACTIVATION_CODE_KEY,
        "DATABASE_URL": f"postgres://{login}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "CELERY_BROKER_URL": settings.CELERY_BROKER_URL,
        "ALLOWED_HOSTS": "127.0.0.1",
        "PYTHONUNBUFFERED": "1",
        "XDG_RUNTIME_DIR": str(runtime),  # gunicorn's control socket, apart from others'
    }


@pytest.fixture
def web(tmp_path):
    """The Procfile's web process; yields its address and the paths of its two logs."""
    port = free_port()
    out, err = tmp_path / "web.out", tmp_path / "web.err"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        process = subprocess.Popen(
            ["bash", "-c", procfile_command("web")],
            cwd=settings.BASE_DIR,
            env=web_env(port, tmp_path),
            stdout=stdout,
            stderr=stderr,
            start_new_session=True,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                requests.get(f"{base}/healthz", timeout=5)
                break
            except requests.ConnectionError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(err.read_text() + out.read_text()) from None
                time.sleep(0.3)
        yield base, out, err
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)


def signed_in(base: str, login_path: str, email: str) -> requests.Session:
    browser = requests.Session()
    form = browser.get(base + login_path)
    token = CSRF.search(form.text).group(1)
    answer = browser.post(
        base + login_path,
        data={"username": email, "password": PASSWORD, "csrfmiddlewaretoken": token},
        headers={"Referer": base + login_path},
        allow_redirects=False,
    )
    assert answer.status_code == 302, answer.text
    return browser


def posted(browser: requests.Session, base: str, form_page: str, action: str, q: str):
    token = CSRF.search(browser.get(base + form_page).text).group(1)
    return browser.post(
        base + action,
        data={"q": q, "csrfmiddlewaretoken": token},
        headers={"Referer": base + form_page},
    )


def test_searches_by_activation_code_leave_no_code_in_the_access_log(web, settings):
    # The web process checks passwords with the default hashers, not the tests' fast one.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
    base, out, err = web
    northwind = new_account()
    customer = portal_contact(northwind)
    entitlement = entitlement_of(northwind, certificate=False)
    staff = UserFactory(is_staff=True, is_superuser=True)
    code = entitlement.activation_code
    spellings = code_spellings(code)

    # A customer searches the portal by the code, without dashes, in lower case
    portal = signed_in(base, "/account/login/", customer.user.email)
    found = posted(portal, base, "/entitlements/", "/entitlements/", code.lower().replace("-", ""))
    assert found.status_code == 200 and entitlement.ssrn in found.text
    # and opens an old address that still carries it
    bookmark = portal.get(f"{base}/entitlements/", params={"q": code.lower()})
    assert bookmark.status_code == 200 and entitlement.ssrn in bookmark.text

    # Staff find it by the code with spaces, then type it into a list's search box and go on
    # from that page (the browser sends its address as the Referer)
    admin = signed_in(base, "/admin/login/", staff.email)
    found = posted(admin, base, "/admin/", "/admin/find/", code.lower().replace("-", " "))
    assert found.status_code == 200 and entitlement.ssrn in found.text
    changelist = f"{base}/admin/entitlements/entitlement/"
    listed = admin.get(changelist, params={"q": code})
    assert "looks like an activation code" in listed.text
    admin.get(f"{base}/admin/", headers={"Referer": listed.url})

    time.sleep(0.5)  # gunicorn writes each line after its response
    log = out.read_text() + err.read_text()
    for request in (
        "POST /entitlements/",
        "GET /entitlements/",
        "POST /admin/find/",
        "GET /admin/entitlements/entitlement/",
    ):
        assert re.search(f'"{request}[ ?]', log), request
    leaked = {spelling for spelling in spellings if spelling in log.lower()}
    assert not leaked, log
