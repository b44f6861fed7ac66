"""A webhook receiver for the demo (`make run`), served only with DEBUG on: it checks each
event's signature as an endpoint should and writes the event to var/webhooks/."""

import hashlib
import hmac
import json
import time

from django.conf import settings
from django.http import HttpResponse, HttpResponseBadRequest
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST

from apps.core.contracts import Rejected, parse_json
from apps.outbox.models import WebhookEndpoint

DEMO_PATH = "/demo/webhooks/"
TOLERANCE = 300  # seconds: an older signature is a replay


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
    folder = settings.VAR_DIR / "webhooks"
    folder.mkdir(parents=True, exist_ok=True)
    name = f"{event['created'][:19].replace(':', '')}-{event['type']}-{event['id']}.json"
    (folder / name).write_text(json.dumps(event, indent=2) + "\n")
    return HttpResponse("ok\n")
