"""Errors to Sentry (SENTRY_DSN), with no personal data and no secret.

`send_default_pii=False` keeps users, cookies and client addresses out; request bodies are never
sent (a form may hold a code or a password); the query string is dropped, as in the access log.
Local variables are never sent: a frame may hold a legacy key (an import's file, a pool's
keys), which has no shape the redaction could recognise. `sentry_event_scrub` then redacts
every string of the event (message, exception values, breadcrumbs, request, extra) with the
log lines' redaction (apps.core.logs), and blanks the values of headers and fields whose names
say they hold a secret.
"""

import sentry_sdk
from sentry_sdk.integrations.celery import CeleryIntegration
from sentry_sdk.integrations.django import DjangoIntegration
from sentry_sdk.scrubber import DEFAULT_DENYLIST, EventScrubber

from apps.core.logs import REDACTED, redact

# Names of headers, variables and fields whose values are secrets whatever their shape (a
# legacy key has none that could be recognised).
SECRET_NAMES = [
    "activation_code",
    "code",
    "codes",
    "license_key",
    "key",
    "keys",
    "raw_token",
    "token",
    "secret",
    "signing_key",
    "password",
    "new_password1",
    "new_password2",
    "authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    # An outgoing request's query (a webhook endpoint's address may carry its receiver's
    # key), in breadcrumbs and spans: left out, as the incoming request's is.
    "http.query",
    "http.fragment",
]
_SECRET_NAMES = set(SECRET_NAMES)


def _scrubbed(value, *, name: str = ""):
    if name.lower() in _SECRET_NAMES and value not in (None, "", [], {}):
        return REDACTED
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {key: _scrubbed(item, name=str(key)) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_scrubbed(item) for item in value]
    return value


def sentry_event_scrub(event, hint):
    """`before_send` and `before_send_transaction`: the event without a secret."""
    request = event.get("request")
    if isinstance(request, dict):
        request.pop("query_string", None)
        request.pop("cookies", None)
        request.pop("data", None)
    return _scrubbed(event)


def sentry_breadcrumb_scrub(crumb, hint):
    return _scrubbed(crumb)


def sentry_init(*, dsn: str, environment: str, traces_sample_rate: float) -> None:
    sentry_sdk.init(
        dsn=dsn,
        environment=environment,
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        send_default_pii=False,
        max_request_body_size="never",
        include_local_variables=False,
        event_scrubber=EventScrubber(denylist=DEFAULT_DENYLIST + SECRET_NAMES, recursive=True),
        before_send=sentry_event_scrub,
        before_send_transaction=sentry_event_scrub,
        before_breadcrumb=sentry_breadcrumb_scrub,
    )
