"""The logs of a whole pipeline run hold none of the secrets it made, in either LOG_FORMAT.

The real logging configuration (settings' `logging_config`) writes into a buffer while an order
comes in through the API, ships, renders, is emailed to an SMTP server (which refuses one
message once), is activated on devices, and while an API token, a webhook endpoint, a password
reset and a sign-in link are made and used. A careless line and an exception that name secrets
are logged too: the redaction is the last line of defence. Every line is searched for every
secret; with LOG_FORMAT=json every line is one JSON object, and the lines of a request, a task
and a delivery say which.
"""

import datetime
import io
import json
import logging
import re
from logging.config import dictConfig

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Account
from apps.core.logs import log_context, logging_config, redact
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Entitlement
from apps.fulfillment.tasks import fulfil_due_task, queued_work_rescue_task
from apps.outbox.models import Delivery, DeliveryStatus
from tests.api.conftest import api, order_body
from tests.factories.accounts import AccountAssociationFactory
from tests.portal.helpers import code_spellings
from tests.portal.sign_in_links import ask, latest_link, use
from tests.webhooks.conftest import endpoint_for
from tests.webhooks.receiver import Receiver

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "Correct-Horse-Battery-42"


@pytest.fixture
def receiver(settings):
    """A webhook receiver on this machine, which Keyship may post to in this test."""
    settings.WEBHOOK_ALLOW_PRIVATE_URLS = True
    with Receiver() as server:
        yield server


@pytest.fixture
def log_lines(request, settings):
    """Every line the real logging configuration writes, in the LOG_FORMAT asked for."""
    stream = io.StringIO()
    dictConfig(logging_config(log_format=request.param, level="DEBUG"))
    (console,) = logging.getLogger().handlers
    console.setStream(stream)
    try:
        yield request.param, lambda: stream.getvalue().splitlines()
    finally:
        dictConfig(settings.LOGGING)


def _pipeline(smtp, on_commit, receiver) -> dict[str, set[str]]:
    """Runs everything that makes a secret; returns the spellings of each secret."""
    secrets = {}
    # An order through the API, with the ERP's token
    erp = api(scopes=["orders:write", "orders:read"])
    secrets["API token"] = {erp.token}
    today = datetime.date.today().isoformat()
    body = order_body(number="SO-LOG-1")
    for line in body["lines"]:
        line["requested_ship_date"] = today
    assert erp.post("/api/v1/orders/", body, format="json").status_code == 201
    northwind = Account.objects.get(account_id="0100012345")
    alice = AccountAssociationFactory(
        account=northwind, contact__user__email="alice@northwind.example"
    ).contact.user

    # A webhook endpoint, with the secret it signs with
    _, webhook_secret = endpoint_for(receiver.url)
    secrets["webhook secret"] = {webhook_secret}

    # The sweep ships it, renders its certificates and sends its emails; the mail server
    # refuses the first one once
    smtp.refusals.append("451 4.3.0 try again later")
    with on_commit(execute=True):
        fulfil_due_task.delay()
    # and the rescuer sends it again when its retry is due
    Delivery.objects.filter(status=DeliveryStatus.RETRY).update(next_attempt_at=timezone.now())
    with on_commit(execute=True):
        queued_work_rescue_task.delay()
    entitlements = list(Entitlement.objects.filter(order_line__order__order_number="SO-LOG-1"))
    assert len(entitlements) == 2 and smtp.messages
    for entitlement in entitlements:
        secrets[f"activation code {entitlement.ssrn}"] = code_spellings(entitlement.activation_code)
        # Activated on a device: its license key
        (activation,) = activations_create(
            entitlement_id=entitlement.pk, serial_numbers=["FTX2231A0BC"], actor=alice
        )
        signature = re.search(r"Signature: (\S+)", activation.license_key).group(1)
        secrets[f"license key {entitlement.ssrn}"] = {signature.lower()}

    # A password reset, used
    browser = Client()
    with on_commit(execute=True):
        browser.post(reverse("password_reset"), {"email": alice.email})
    link = re.search(r"https?://[^/\s]+(/account/reset/\S+)", str(smtp.to(alice.email)[-1]))
    form = browser.get(link.group(1), follow=True)
    browser.post(
        form.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    reset_token = link.group(1).strip("/").split("/")[-1]
    secrets["password reset token"] = {reset_token.lower()}
    secrets["new password"] = {NEW_PASSWORD.lower()}

    # A sign-in link for the order's address, used
    visitor = Client()
    with on_commit(execute=True):
        ask(visitor, "buyer@northwind.example")
    _, token = latest_link("buyer@northwind.example")
    assert use(visitor, token).status_code == 302
    secrets["sign-in token"] = {token.lower()}

    # A page that is not there (a request's warning line)
    visitor.get("/no-such-page/")

    # A careless line and an exception naming secrets, inside an order's context
    careless = logging.getLogger("apps.careless")
    code = entitlements[0].activation_code
    with log_context(order_number="SO-LOG-1", ssrn=entitlements[0].ssrn):
        careless.warning(
            "forgot myself: %s %s %s %s",
            code,
            erp.token,
            webhook_secret,
            activation.license_key,
        )
        try:
            raise ValueError(f"code {code.lower()} sent to {link.group(1)}#{token}")
        except ValueError:
            careless.exception("and failed")
    return secrets


@pytest.mark.parametrize("log_lines", ["json", "text"], indirect=True)
def test_no_secret_of_a_whole_run_reaches_the_logs(
    log_lines, smtp, receiver, products, django_capture_on_commit_callbacks
):
    log_format, lines_of = log_lines

    secrets = _pipeline(smtp, django_capture_on_commit_callbacks, receiver)

    lines = lines_of()
    assert len(lines) > 10
    text = "\n".join(lines).lower()
    leaked = [name for name, spellings in secrets.items() if any(s in text for s in spellings)]
    assert not leaked, text
    assert "forgot myself: [redacted]" in text
    if log_format == "text":
        assert re.search(r"error apps.careless and failed  order_number=so-log-1", text)
        return
    records = [json.loads(line) for line in lines]  # every line is one object
    for record in records:
        assert {"timestamp", "level", "logger", "message", "process"} <= set(record), record
    by_message = {record["message"]: record for record in records}
    careless = by_message["and failed"]
    assert careless["order_number"] == "SO-LOG-1" and "ValueError" in careless["exc_info"]
    # The request, the task and the delivery each name themselves
    not_found = by_message["Not Found: /no-such-page/"]
    assert re.fullmatch(r"[0-9a-f]{32}", not_found["request_id"])
    refused = next(r for r in records if r["message"].startswith("delivery "))
    assert refused["delivery_id"] and refused["task_name"].startswith("apps.")
    assert any(r.get("task_name") == "apps.fulfillment.tasks.fulfil_due_task" for r in records)


@pytest.mark.parametrize(
    "shape",
    [
        "1JYA-W4KS-PPAX-QDQA-61TA-F3XH-C8DS",
        "1jyaw4ksppaxqdqa61taf3xhc8ds",
        "1jya%20w4ks%20ppax%20qdqa%2061ta%20f3xh%20c8ds",
        "ks_L-7guGk_NxPMbEiBsa6FeLnBCWiojQCINVmxF6UX5HE",
        "whsec_nTG8vvBOpquZEiwrHo82yeekE9Gb4rw8FRQrPvsbulw",
        "/account/reset/MQ/cd5ehy-0123456789abcdef0123456789abcdef/",
        "smtp://licensing:hunter2@mail.example:587",
        "{'password': 'hunter2'}",
        "#C4zYhPkaVctGo9WRM2lcAtuin2J9qreTizFSlybgMtk",
        "-----BEGIN KEYSHIP LICENSE KEY-----\nFormat: 2\nSignature: AbC+/d==\n",
    ],
)
def test_each_shape_of_secret_is_redacted(shape):
    redacted = redact(f"before {shape} after")
    assert "[redacted]" in redacted and redacted.startswith("before ")
    assert not any(
        secret in redacted
        for secret in ("hunter2", "W4KS", "w4ks", "7guGk", "nTG8v", "cd5ehy", "C4zYh", "AbC+")
    )


@pytest.mark.parametrize(
    "line",
    [
        "shipped 3 lines, blocked 0",
        "certificate 12 could not be rendered",
        "order SO-4711 line 2: SSRN 7QK2-M9XD-41HC",
        "task a5f1c0e2-9b7d-4c33-8e3b-1f2a3b4c5d6e succeeded",
        'File "/srv/keyship/apps/fulfillment/services.py", line 12, in '
        "test_the_documented_deploy_serves_the_portal_and_the_admin",
    ],
)
def test_ordinary_lines_are_left_as_they_are(line):
    assert redact(line) == line
