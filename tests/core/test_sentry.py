"""With SENTRY_DSN set, an error reaches Sentry, and none of the secrets around it does.

A fake Sentry (an HTTP server on this machine) takes the envelopes; a view fails with an
activation code and an API token in its message, its local variables and its request (query
string, body, Authorization header, cookie).
"""

import gzip
import http.server
import json
import threading
import zlib

import pytest
import sentry_sdk
from django.test import Client
from django.urls import path

from apps.core.codes import new_activation_code
from config.sentry import sentry_init

CODE = new_activation_code()
TOKEN = "ks_" + "Zq7" * 14


def failing_view(request):
    code, token = CODE, TOKEN  # noqa: F841 - locals that Sentry would show
    raise RuntimeError(f"activation with {code} for the client of {token} failed")


urlpatterns = [path("fails/", failing_view)]


class FakeSentry(http.server.ThreadingHTTPServer):
    def __init__(self):
        self.envelopes: list[bytes] = []
        self.arrived = threading.Event()
        sentry = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                encoding = self.headers.get("Content-Encoding", "")
                if encoding == "gzip":
                    body = gzip.decompress(body)
                elif encoding == "deflate":
                    body = zlib.decompress(body)
                elif encoding == "br":
                    import brotli

                    body = brotli.decompress(body)
                sentry.envelopes.append(body)
                sentry.arrived.set()
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"{}")

            def log_message(self, *args):
                pass

        super().__init__(("127.0.0.1", 0), Handler)


@pytest.fixture
def fake_sentry():
    server = FakeSentry()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    port = server.server_address[1]
    sentry_init(dsn=f"http://key@127.0.0.1:{port}/1", environment="test", traces_sample_rate=0)
    try:
        yield server
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: nothing is sent from here on
        server.shutdown()
        server.server_close()


@pytest.mark.django_db
def test_an_error_reaches_sentry_without_its_secrets(fake_sentry, settings):
    settings.ROOT_URLCONF = __name__
    browser = Client(raise_request_exception=False)
    browser.cookies["sessionid"] = "a-session-key-of-the-user"

    answer = browser.post(
        f"/fails/?q={CODE}",
        {"code": CODE, "password": "hunter2-secret"},
        HTTP_AUTHORIZATION=f"Bearer {TOKEN}",
    )
    sentry_sdk.flush(timeout=10)

    assert answer.status_code == 500
    assert fake_sentry.arrived.wait(10), "nothing reached Sentry"
    sent = b"\n".join(fake_sentry.envelopes).decode()
    items = [json.loads(line) for line in sent.splitlines() if line.startswith("{")]
    events = [item for item in items if item.get("exception")]
    assert events, sent
    (exception,) = events[0]["exception"]["values"]
    assert exception["type"] == "RuntimeError"
    assert exception["value"] == "activation with [redacted] for the client of [redacted] failed"
    for secret in (CODE, CODE.replace("-", ""), TOKEN, "hunter2", "a-session-key-of-the-user"):
        assert secret.lower() not in sent.lower(), secret


LEGACY_KEY = "OLDFW-7731-AX9-Q2"  # a legacy key has no shape the redaction could know


def failing_key_import_view(request):
    """The admin's key import, when the database fails halfway (a lost connection, a lock
    timeout): its frames hold the file's text and the keys it planned to add."""
    from unittest import mock

    from apps.core.actors import Job
    from apps.lms.models import LegacyKey
    from apps.lms.services import legacy_keys_import

    with mock.patch.object(
        LegacyKey.objects, "bulk_create", side_effect=RuntimeError("the connection was lost")
    ):
        legacy_keys_import(
            text=f"sku,license_key\nOLD-FW,{LEGACY_KEY}\n", actor=Job("import_legacy_keys")
        )


urlpatterns.append(path("import-fails/", failing_key_import_view))


@pytest.mark.django_db
def test_an_error_with_legacy_keys_in_its_frames_reaches_sentry_without_them(
    fake_sentry, settings
):
    from apps.catalog.models import DeliveryMethod
    from tests.factories.catalog import ProductFactory

    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    settings.ROOT_URLCONF = __name__

    answer = Client(raise_request_exception=False).post("/import-fails/")
    sentry_sdk.flush(timeout=10)

    assert answer.status_code == 500
    assert fake_sentry.arrived.wait(10), "nothing reached Sentry"
    sent = b"\n".join(fake_sentry.envelopes).decode()
    assert "the connection was lost" in sent
    assert LEGACY_KEY not in sent


WEBHOOK_QUERY_SECRET = "hook-key-4417"
_webhook_port = {}


def failing_after_webhook_view(request):
    """A webhook endpoint's address may carry its receiver's key in its query: a request to
    it leaves a breadcrumb that an error afterwards would take to Sentry."""
    import http.client

    connection = http.client.HTTPConnection("127.0.0.1", _webhook_port["port"], timeout=5)
    connection.request("POST", f"/hook?key={WEBHOOK_QUERY_SECRET}", body=b"{}")
    connection.getresponse().read()
    raise RuntimeError("the next webhook failed")


urlpatterns.append(path("webhook-fails/", failing_after_webhook_view))


@pytest.mark.django_db
def test_an_error_after_a_webhook_reaches_sentry_without_the_address_query(
    fake_sentry, settings
):
    settings.ROOT_URLCONF = __name__
    _webhook_port["port"] = fake_sentry.server_address[1]

    answer = Client(raise_request_exception=False).post("/webhook-fails/")
    sentry_sdk.flush(timeout=10)

    assert answer.status_code == 500
    sent = b"\n".join(fake_sentry.envelopes).decode()
    assert "the next webhook failed" in sent
    assert "/hook" in sent  # the breadcrumb is there, its query is not
    assert WEBHOOK_QUERY_SECRET not in sent
