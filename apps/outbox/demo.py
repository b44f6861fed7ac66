"""A webhook receiver for the demo (`make run`), served only with DEBUG on: it checks each
event's signature as an endpoint should and writes the event to var/webhooks/."""

import hashlib
import hmac
import json
import re
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.contracts import Rejected, parse_json
from apps.outbox.models import WebhookEndpoint

DEMO_PATH = "/demo/webhooks/"
TOLERANCE = 300  # seconds: an older signature is a replay
UNSAFE_IN_NAME = re.compile(r"[^A-Za-z0-9_.-]|^\.+")


def signature_valid(header: str, body: bytes, secret: str, now: float) -> bool:
    """What every endpoint checks: the timestamp is recent and v1 is the HMAC of it and the
    body under the secret."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        timestamp = int(fields["t"])
    except (KeyError, ValueError):
        return False
    expected = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256)
    return abs(now - timestamp) <= TOLERANCE and hmac.compare_digest(
        expected.hexdigest(), fields.get("v1", "")
    )


@csrf_exempt
@require_POST
def demo_webhook_receiver(request):
    body, header = request.body, request.headers.get("Keyship-Signature", "")
    # The demo's endpoints are the ones that post here; any of their secrets may sign.
    secrets = [e.secret for e in WebhookEndpoint.objects.filter(url__endswith=DEMO_PATH)]
    if not any(signature_valid(header, body, secret, time.time()) for secret in secrets):
        return HttpResponseBadRequest("bad signature\n")
    try:
        event = parse_json(body.decode("utf-8"), "body")
    except (Rejected, UnicodeDecodeError):
        return HttpResponseBadRequest("not JSON\n")
    if not isinstance(event, dict) or not all(key in event for key in ("id", "type", "created")):
        return HttpResponseBadRequest("not an event\n")
    folder = settings.VAR_DIR / "webhooks"
    folder.mkdir(parents=True, exist_ok=True)
    # A signed body says what it likes: the file's name keeps only plain characters of it.
    parts = (str(event["created"])[:19].replace(":", ""), str(event["type"]), str(event["id"]))
    name = "-".join(UNSAFE_IN_NAME.sub("_", part)[:80] for part in parts) + ".json"
    (folder / name).write_text(json.dumps(event, indent=2) + "\n")
    return HttpResponse("ok\n")
