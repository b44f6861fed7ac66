import secrets

from django.db import transaction
from django.utils import timezone

from apps.api.models import ApiClient, Scope, token_digest
from apps.api.webhook_scopes import client_endpoints_beyond_scopes
from apps.core.actors import UnknownCaller
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from apps.core.services import audit_event_record, field_changes, field_values
from apps.outbox.endpoints import webhook_endpoints_disable

TOKEN_PREFIX = "ks_"


@transaction.atomic
def api_client_create(*, name: str, scopes: list[str], actor) -> tuple[ApiClient, str]:
    """A new integration client and its token, which is returned here once and never again
    (only its SHA-256 is kept)."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise Rejected(
            [f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(Scope.values)}"]
        )
    if ApiClient.objects.filter(name=name).exists():
        raise Rejected([f'an API client named "{name}" exists already'])
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    client = ApiClient.objects.create(
        name=name,
        token_digest=token_digest(token),
        token_prefix=token[:10],
        scopes=sorted(set(scopes)),
    )
    audit_event_record(
        actor=actor, action="api_client.created", target=client, data={"scopes": client.scopes}
    )
    return client, token


@transaction.atomic
def api_clients_revoke(*, client_ids, actor) -> int:
    """Revoke clients: their tokens stop working at once. Revoking twice does nothing."""
    clients = list(
        ApiClient.objects.select_for_update().filter(pk__in=client_ids, revoked_at__isnull=True)
    )
    for client in clients:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit_event_record(
            actor=actor,
            action="api_client.revoked",
            target=client,
            data=field_changes({"revoked_at": None}, client, ["revoked_at"]),
        )
        _endpoints_beyond_scopes_disable(client, actor=actor)
    return len(clients)


def _endpoints_beyond_scopes_disable(client: ApiClient, *, actor) -> None:
    """A client's endpoints stop receiving what the client may no longer read."""
    endpoint_ids = client_endpoints_beyond_scopes(client)
    if endpoint_ids:
        webhook_endpoints_disable(
            endpoint_ids=endpoint_ids,
            actor=actor,
            reason=f"API client {client.name} may no longer read these events",
        )


@transaction.atomic
def api_client_scopes_set(*, client_id: int, scopes: list[str], actor) -> ApiClient:
    """Give a client these scopes (a scope grants what it may do, so the change is audited
    with the old and new scopes). Setting the scopes it has writes nothing."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise Rejected(
            [f"unknown scope(s): {', '.join(unknown)}; known: {', '.join(Scope.values)}"]
        )
    client = ApiClient.objects.select_for_update().get(pk=client_id)
    before = field_values(client, ["scopes"])
    client.scopes = sorted(set(scopes))
    changes = field_changes(before, client, ["scopes"])
    if changes:
        client.save(update_fields=["scopes"])
        audit_event_record(actor=actor, action="api_client.updated", target=client, data=changes)
        _endpoints_beyond_scopes_disable(client, actor=actor)
    return client


@transaction.atomic
def api_call_refused_record(
    *,
    method: str,
    path: str,
    status: int,
    client_address: str,
    refused: str,
    client: ApiClient | None,
) -> AuditEvent:
    """Audit an API call refused for want of a valid token (401): one `api.call` event, in
    its own transaction (the API's views run outside the request's, so a refusal cannot
    roll it back). No valid token names the caller, so its actor is the unknown caller from
    its address; its target is the revoked client whose token was sent, else nothing. The
    token itself is never stored, not even in part.
    Not idempotent: each call is an event (the caller bounds how many per client address).
    """
    # Method and path come from the client; a path is cut so a huge one stays a short row.
    return audit_event_record(
        actor=UnknownCaller(client_address),
        action="api.call",
        target=client,
        message=f"{method[:16]} {path[:300]} -> {status}",
        data={"refused": refused, "client_address": client_address, "actor": "unknown"},
    )
