import secrets

from django.db import transaction
from django.utils import timezone

from apps.api.models import ApiClient, Scope, token_digest
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from apps.core.services import audit_event_record

TOKEN_PREFIX = "ks_"


@transaction.atomic
def api_client_create(*, name: str, scopes: list[str], actor=None) -> tuple[ApiClient, str]:
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
def api_client_scopes_set(*, client: ApiClient, scopes: list[str], actor) -> ApiClient:
    """Grant a client exactly these scopes (from its next call on); audited with the old and
    new scopes. The same scopes again write nothing."""
    unknown = sorted(set(scopes) - set(Scope.values))
    if unknown:
        raise Rejected(
            [f"scopes: unknown scope(s): {', '.join(unknown)}; known: {', '.join(Scope.values)}"]
        )
    stored = ApiClient.objects.select_for_update().get(pk=client.pk)
    old, new = sorted(stored.scopes), sorted(set(scopes))
    if old != new:
        stored.scopes = new
        stored.save(update_fields=["scopes"])
        audit_event_record(
            actor=actor,
            action="api_client.scopes_changed",
            target=stored,
            data={"scopes": {"old": old, "new": new}},
        )
    return stored


@transaction.atomic
def api_clients_revoke(*, client_ids, actor) -> int:
    """Revoke clients: their tokens stop working at once. Revoking twice does nothing."""
    clients = list(
        ApiClient.objects.select_for_update().filter(pk__in=client_ids, revoked_at__isnull=True)
    )
    for client in clients:
        client.revoked_at = timezone.now()
        client.save(update_fields=["revoked_at"])
        audit_event_record(actor=actor, action="api_client.revoked", target=client)
    return len(clients)


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
    roll it back). Nobody is known, so it has no actor; its target is the revoked client
    whose token was sent, else nothing. The token itself is never stored, not even in part.
    Not idempotent: each call is an event (the caller bounds how many per client address).
    """
    # Method and path come from the client; a path is cut so a huge one stays a short row.
    return audit_event_record(
        action="api.call",
        target=client,
        message=f"{method[:16]} {path[:300]} -> {status}",
        data={"refused": refused, "client_address": client_address, "actor": "unknown"},
    )
