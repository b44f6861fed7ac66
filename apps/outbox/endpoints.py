"""Webhook endpoints: registering, changing, disabling and enabling them, and which URLs
they may have.

Keyship posts to a URL that someone outside chose, from inside its own network: a URL that
names a loopback, private, link-local, multicast or reserved address (or a host name that
resolves to one) would let that someone reach internal services (SSRF). Such URLs are refused
when an endpoint is registered and again at each delivery, where the request goes to the
address that was checked, so a name that resolves elsewhere a moment later (DNS rebinding)
reaches nothing internal. WEBHOOK_ALLOW_PRIVATE_URLS=true lifts the rule, and allows plain
http://, for development and tests only.
"""

import ipaddress
import secrets
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.core import sealing
from apps.core.actors import actor_user
from apps.core.contracts import Rejected
from apps.core.services import audit_event_record, field_changes, field_values
from apps.outbox.events import EVENT_TYPES, TEST_EVENT, sample_event_queue
from apps.outbox.models import Delivery, DeliveryStatus, WebhookEndpoint

SECRET_PREFIX = "whsec_"
AUDITED_FIELDS = ["url", "description", "events", "account_ids", "owner_email", "active"]


class UnsafeTarget(Exception):
    """The URL may not be posted to (see the module's docstring)."""


def _unsafe_reason(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(address, ipaddress.IPv6Address):
        if address.is_site_local:
            return "a site-local address"
        # An IPv4 address inside an IPv6 one (mapped, or 6to4) is the address reached.
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is not None:
            return _unsafe_reason(embedded)
    for reason, test in (
        ("a loopback address", address.is_loopback),
        ("a link-local address", address.is_link_local),
        ("a multicast address", address.is_multicast),
        ("a reserved address", address.is_reserved or address.is_unspecified),
        ("a private address", address.is_private),
        ("not a public address", not address.is_global),
    ):
        if test:
            return reason
    return None


@dataclass(frozen=True)
class Target:
    """Where a delivery goes: the URL's parts and the address to connect to."""

    scheme: str
    host: str
    port: int
    path: str
    address: str


def webhook_target(url: str) -> Target:
    """Check `url` and resolve its host to an address that may be posted to.

    Raises UnsafeTarget for a URL that is never allowed (its reason says why, without the
    URL), OSError when the host does not resolve now (worth another try later).
    """
    try:
        parts = urlsplit(url)
        if parts.port == 0:  # a port outside 0 to 65535 raises here
            raise ValueError("port 0")
    except ValueError:
        raise UnsafeTarget("not a URL (check its host and its port, 1 to 65535)") from None
    allow_private = settings.WEBHOOK_ALLOW_PRIVATE_URLS
    schemes = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in schemes:
        raise UnsafeTarget(
            "the URL must start with https://"
            + ("" if allow_private else " (plain http:// only in development)")
        )
    if any(character <= " " or character == "\x7f" for character in url):
        raise UnsafeTarget("not a URL (it holds a space or a control character)")
    if parts.username is not None or parts.password is not None:
        raise UnsafeTarget("the URL may not hold a user name or password")
    if parts.fragment:
        raise UnsafeTarget("the URL may not have a #fragment")
    if not parts.hostname:
        raise UnsafeTarget("the URL names no host")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    infos = socket.getaddrinfo(parts.hostname, port, type=socket.SOCK_STREAM)
    addresses = [ipaddress.ip_address(info[4][0].split("%", 1)[0]) for info in infos]
    if not allow_private:
        for address in addresses:
            reason = _unsafe_reason(address)
            if reason:
                # Every address of the name is checked, not only the one used: a name that
                # resolves to an internal address at all is refused.
                raise UnsafeTarget(
                    f"{parts.hostname} is {reason}"
                    if str(address) == parts.hostname
                    else f"{parts.hostname} resolves to {address}, {reason}"
                )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(parts.scheme, parts.hostname, port, path, str(addresses[0]))


def webhook_url_problems(url: str, path: str = "url") -> list[str]:
    """What is wrong with `url` as an endpoint's address, each with its field's path."""
    url = (url or "").strip()
    if not url:
        return [f"{path}: enter the URL that receives the events"]
    if len(url) > 2000:
        return [f"{path}: at most 2000 characters"]
    try:
        webhook_target(url)
    except UnsafeTarget as unsafe:
        return [f"{path}: {unsafe}; webhooks go to public https:// addresses only"]
    except (OSError, UnicodeError):
        host = urlsplit(url).hostname or url
        return [f"{path}: the host {host} does not resolve"]
    return []


def _events_problems(events, path: str = "events") -> list[str]:
    if not isinstance(events, list | tuple) or not events:
        return [f"{path}: name at least one event type; known: {', '.join(EVENT_TYPES)}"]
    return [
        f'{path}[{index}]: unknown event type "{str(event)[:60]}"; known: {", ".join(EVENT_TYPES)}'
        for index, event in enumerate(events)
        if not isinstance(event, str) or event not in EVENT_TYPES
    ]


def _clean(values: dict) -> dict:
    cleaned = dict(values)
    if "url" in cleaned:
        cleaned["url"] = cleaned["url"].strip()
    if "events" in cleaned and isinstance(cleaned["events"], list | tuple):
        # In the catalogue's order, once each.
        cleaned["events"] = [event for event in EVENT_TYPES if event in cleaned["events"]]
    if "account_ids" in cleaned:
        cleaned["account_ids"] = sorted({str(a).strip() for a in cleaned["account_ids"] or ()})
    if "owner_email" in cleaned:
        cleaned["owner_email"] = (cleaned["owner_email"] or "").strip()
    if "description" in cleaned:
        cleaned["description"] = (cleaned["description"] or "").strip()[:200]
    return cleaned


def _problems(values: dict) -> list[str]:
    problems = []
    if "url" in values:
        problems += webhook_url_problems(str(values["url"]).strip())
    if "events" in values:
        problems += _events_problems(values["events"])
    return problems


@transaction.atomic
def webhook_endpoint_create(
    *,
    url: str,
    events: list[str],
    actor,
    account_ids=(),
    owner_email: str = "",
    description: str = "",
    api_client_id: int | None = None,
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint; returns it with its signing secret, which is shown this once
    (it is kept sealed). Account IDs make it a customer's endpoint (only their events); the
    caller checks that they exist. Rejected, writing nothing, for an unknown event type or a
    URL that may not be posted to. Audited, without the secret."""
    given = {
        "url": url,
        "events": events,
        "account_ids": account_ids,
        "owner_email": owner_email,
        "description": description,
    }
    problems = _problems(given)
    if problems:
        raise Rejected(problems)
    values = _clean(given)
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    user = actor_user(actor)
    if not values["owner_email"] and user is not None:
        values["owner_email"] = user.email
    endpoint = WebhookEndpoint.objects.create(
        **values,
        secret_sealed=sealing.seal(secret),
        api_client_id=api_client_id,
        created_by=user,
    )
    audit_event_record(
        actor=actor,
        action="webhook_endpoint.created",
        target=endpoint,
        message=endpoint.url,
        data=field_values(endpoint, AUDITED_FIELDS),
    )
    return endpoint, secret


def _locked(endpoint_id: int) -> WebhookEndpoint:
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)


@transaction.atomic
def webhook_endpoint_update(*, endpoint_id: int, actor, **changes) -> WebhookEndpoint:
    """Change an endpoint's url, description, events, account_ids, owner_email or active
    (enabling it starts its count of failures afresh; disabling it stops its deliveries).
    Audited with the old and new values; changing nothing writes nothing."""
    unknown = set(changes) - set(AUDITED_FIELDS)
    if unknown:
        raise TypeError(f"webhook_endpoint_update got {', '.join(sorted(unknown))}")
    problems = _problems(changes)
    if problems:
        raise Rejected(problems)
    values = _clean(changes)
    endpoint = _locked(endpoint_id)
    before = field_values(endpoint, AUDITED_FIELDS)
    for name, value in values.items():
        setattr(endpoint, name, value)
    changed = field_changes(before, endpoint, AUDITED_FIELDS)
    if not changed:
        return endpoint
    if "active" in changed:
        _set_active(endpoint, endpoint.active, reason="")
    endpoint.save()
    if "events" in changed or "account_ids" in changed:
        _unreceived_deliveries_end(endpoint)
    audit_event_record(
        actor=actor,
        action="webhook_endpoint.updated",
        target=endpoint,
        message=endpoint.url,
        data=changed,
    )
    return endpoint


def _unreceived_deliveries_end(endpoint: WebhookEndpoint) -> None:
    """The events waiting for `endpoint` (queued or to retry) that it no longer receives
    since its event types or accounts changed fail at once: another account's events never
    reach it. One being sent now goes; a failure here does not count against the endpoint."""
    waiting = Delivery.objects.select_for_update(of=("self",)).filter(
        endpoint=endpoint, status__in=[DeliveryStatus.QUEUED, DeliveryStatus.RETRY]
    )
    ended = [
        pk
        for pk, payload in waiting.values_list("pk", "payload")
        if payload.get("type") != TEST_EVENT
        and not endpoint.receives(
            payload.get("type"), (payload.get("data") or {}).get("account_ids") or ()
        )
    ]
    Delivery.objects.filter(pk__in=ended).update(
        status=DeliveryStatus.FAILED,
        lease_expires_at=None,
        last_error="the endpoint no longer receives this event (its event types or accounts "
        "changed)",
    )


def _set_active(endpoint: WebhookEndpoint, active: bool, *, reason: str) -> None:
    endpoint.active = active
    if active:
        endpoint.disabled_at, endpoint.disabled_reason = None, ""
        endpoint.consecutive_failures = 0
    else:
        endpoint.disabled_at, endpoint.disabled_reason = timezone.now(), reason[:300]


@transaction.atomic
def webhook_endpoints_disable(*, endpoint_ids, actor, reason: str = "") -> list[WebhookEndpoint]:
    """Disable endpoints: no new event is recorded for them and their queued deliveries fail
    at their next attempt. Disabling a disabled endpoint does nothing. Audited."""
    endpoints = list(
        WebhookEndpoint.objects.select_for_update().filter(pk__in=endpoint_ids, active=True)
    )
    for endpoint in endpoints:
        _set_active(endpoint, False, reason=reason or "disabled by hand")
        endpoint.save()
        audit_event_record(
            actor=actor,
            action="webhook_endpoint.disabled",
            target=endpoint,
            message=f"{endpoint.url}: {endpoint.disabled_reason}",
            data={"active": {"old": True, "new": False}},
        )
    return endpoints


@transaction.atomic
def webhook_endpoints_enable(*, endpoint_ids, actor) -> list[WebhookEndpoint]:
    """Enable disabled endpoints: they receive the events recorded from now on (what was
    recorded while they were disabled is not sent; the deliveries that failed can be sent
    again from the deliveries' admin), with a fresh count of failures. Audited."""
    endpoints = list(
        WebhookEndpoint.objects.select_for_update().filter(pk__in=endpoint_ids, active=False)
    )
    for endpoint in endpoints:
        reason = endpoint.disabled_reason
        _set_active(endpoint, True, reason="")
        endpoint.save()
        audit_event_record(
            actor=actor,
            action="webhook_endpoint.enabled",
            target=endpoint,
            message=endpoint.url,
            data={"active": {"old": False, "new": True}, "was_disabled_for": reason},
        )
    return endpoints


@transaction.atomic
def webhook_endpoint_delete(*, endpoint_id: int, actor) -> None:
    """Delete an endpoint. Its deliveries stay, as history (with its URL); those not sent
    yet fail at their next attempt. Audited."""
    endpoint = _locked(endpoint_id)
    audit_event_record(
        actor=actor,
        action="webhook_endpoint.deleted",
        target=endpoint,
        message=endpoint.url,
        data=field_values(endpoint, AUDITED_FIELDS),
    )
    endpoint.delete()


@transaction.atomic
def webhook_endpoint_test(*, endpoint_id: int, actor) -> Delivery:
    """Queue a test event (type webhook.test) for the endpoint, whatever it subscribed to;
    audited. The delivery shows in the admin with its attempts, as any other."""
    endpoint = _locked(endpoint_id)
    delivery = sample_event_queue(endpoint=endpoint)
    audit_event_record(
        actor=actor,
        action="webhook_endpoint.test_sent",
        target=endpoint,
        message=f"{endpoint.url}: {delivery.payload['id']}",
    )
    return delivery
