"""What an API client may have sent to its webhook endpoints: the events its read scopes
would show it. webhooks:manage alone registers endpoints; it reads nothing by itself, so an
endpoint must not become a way to read what the client's scopes do not let it."""

from apps.api.models import ApiClient, Scope
from apps.outbox.models import WebhookEndpoint

# The scope that reads what an event type tells, by the type's first word.
READS = {
    "order": Scope.ORDERS_READ,
    "line": Scope.ORDERS_READ,
    "entitlement": Scope.ENTITLEMENTS_READ,
    "activation": Scope.ENTITLEMENTS_READ,
    "reminder": Scope.ENTITLEMENTS_READ,
}


def event_scope(event_type: str) -> str | None:
    return READS.get(event_type.split(".", 1)[0])


def unreadable_events(events, scopes) -> list[str]:
    """The event types of `events` that a client with these scopes may not receive."""
    return [event for event in events if event_scope(event) not in (None, *scopes)]


def event_scope_problems(events, client: ApiClient) -> list[str]:
    return [
        f"events: {event} needs the scope {event_scope(event)}, which this client does not have"
        for event in unreadable_events(events, client.scopes)
    ]


def client_endpoints_beyond_scopes(client: ApiClient) -> list[int]:
    """The active endpoints of this client that receive events it may no longer read (all
    of them once it is revoked)."""
    endpoints = WebhookEndpoint.objects.filter(api_client_id=client.pk, active=True)
    if client.revoked_at is not None:
        return list(endpoints.values_list("pk", flat=True))
    return [
        endpoint.pk
        for endpoint in endpoints
        if unreadable_events(endpoint.events, client.scopes)
    ]
