"""Mailgun's tracking webhook as Mailgun calls it: the JSON payloads of its documentation
(https://documentation.mailgun.com/docs/mailgun/user-manual/webhooks/webhook-payloads),
signed as its "Securing webhooks" page says: HMAC-SHA256 of timestamp + token, keyed by the
domain's webhook signing key."""

import datetime
import hashlib
import hmac
import json
import secrets

SIGNING_KEY = "test-mailgun-webhook-signing-key-7f3a9c"
WEBHOOK_URL = "/anymail/mailgun/tracking/"


def signature(*, key: str = SIGNING_KEY, timestamp: int | None = None, token: str = "") -> dict:
    timestamp = str(timestamp or int(datetime.datetime.now(datetime.UTC).timestamp()))
    token = token or secrets.token_hex(25)
    digest = hmac.new(key.encode(), f"{timestamp}{token}".encode(), hashlib.sha256).hexdigest()
    return {"timestamp": timestamp, "token": token, "signature": digest}


def _message(message_id: str, recipient: str) -> dict:
    # Mailgun names the message by its Message-Id header, without the angle brackets.
    return {
        "headers": {
            "to": recipient,
            "message-id": message_id.strip("<>"),
            "from": "Keyship <licensing@keyship.example>",
            "subject": "Your licenses",
        },
        "attachments": [],
        "size": 4242,
    }


def _event(event: str, message_id: str, recipient: str, at: datetime.datetime, **fields):
    return {
        "event": event,
        "id": secrets.token_urlsafe(16),
        "timestamp": at.timestamp(),
        "log-level": "info",
        "recipient": recipient,
        "recipient-domain": recipient.rsplit("@", 1)[-1],
        "envelope": {
            "transport": "smtp",
            "sender": "licensing@keyship.example",
            "sending-ip": "192.0.2.10",
            "targets": recipient,
        },
        "flags": {"is-routed": False, "is-authenticated": True, "is-test-mode": False},
        "message": _message(message_id, recipient),
        "tags": [],
        "user-variables": {},
        "campaigns": [],
        **fields,
    }


def delivered(message_id, recipient, at):
    return _event(
        "delivered",
        message_id,
        recipient,
        at,
        **{
            "delivery-status": {
                "tls": True,
                "mx-host": "mx.northwind.example",
                "attempt-no": 1,
                "description": "",
                "session-seconds": 0.43,
                "utf8": True,
                "code": 250,
                "message": "OK",
                "certificate-verified": True,
            }
        },
    )


def permanent_failure(message_id, recipient, at):
    return _event(
        "failed",
        message_id,
        recipient,
        at,
        severity="permanent",
        reason="bounce",
        **{
            "log-level": "error",
            "delivery-status": {
                "attempt-no": 1,
                "code": 550,
                "message": "5.1.1 The email account that you tried to reach does not exist.",
                "description": "",
                "mx-host": "mx.northwind.example",
                "session-seconds": 0.11,
                "enhanced-code": "5.1.1",
            },
        },
    )


def temporary_failure(message_id, recipient, at):
    return _event(
        "failed",
        message_id,
        recipient,
        at,
        severity="temporary",
        reason="generic",
        **{
            "log-level": "warn",
            "delivery-status": {
                "attempt-no": 1,
                "code": 452,
                "message": "4.2.2 The email account that you tried to reach is over quota.",
                "description": "",
                "retry-seconds": 600,
                "session-seconds": 0.2,
            },
        },
    )


def complained(message_id, recipient, at):
    return _event("complained", message_id, recipient, at, **{"log-level": "warn"})


def post(client, event_data, *, sign: dict | None = None, **extra):
    """Post one event as Mailgun does (JSON, the signature in the body)."""
    body = {"signature": sign or signature(), "event-data": event_data}
    return client.post(WEBHOOK_URL, data=json.dumps(body), content_type="application/json", **extra)

