"""The webhook endpoints of the API (scope webhooks:manage): a client registers, reads,
changes and deletes its own endpoints; what they receive is in apps/outbox/webhooks.py."""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.response import Response

from apps.accounts.selectors import unknown_account_ids
from apps.api.models import Scope
from apps.api.serializers import (
    WebhookEndpointChangeIn,
    WebhookEndpointCreatedOut,
    WebhookEndpointIn,
    WebhookEndpointOut,
)
from apps.api.views import ERRORS, NOT_FOUND, ApiView
from apps.api.webhook_scopes import event_scope_problems
from apps.core.contracts import Rejected, validate
from apps.outbox.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
)
from apps.outbox.models import WebhookEndpoint


def _endpoint_of(request, endpoint_id: int) -> WebhookEndpoint:
    # A client sees and changes the endpoints it registered, no other.
    return get_object_or_404(WebhookEndpoint, pk=endpoint_id, api_client_id=request.auth.pk)


def _unknown_accounts(account_ids) -> None:
    unknown = unknown_account_ids(account_ids or [])
    if unknown:
        raise Rejected([f"account_ids: no account has the Account ID {a}" for a in unknown])


def _readable(events, client) -> None:
    problems = event_scope_problems(events, client)
    if problems:
        raise Rejected(problems)


class WebhookEndpointsView(ApiView):
    required_scopes = {"GET": Scope.WEBHOOKS_MANAGE, "POST": Scope.WEBHOOKS_MANAGE}

    @extend_schema(
        operation_id="webhook_endpoints_list",
        summary="The webhook endpoints this client registered",
        responses={200: WebhookEndpointOut(many=True), **ERRORS},
    )
    def get(self, request):
        rows = WebhookEndpoint.objects.filter(api_client_id=request.auth.pk).order_by("pk")
        return Response(WebhookEndpointOut(rows, many=True).data)

    @extend_schema(
        operation_id="webhook_endpoints_create",
        summary="Register a webhook endpoint; the answer holds its signing secret, this once",
        request=WebhookEndpointIn,
        responses={201: WebhookEndpointCreatedOut, **ERRORS},
        description=(
            "Each event is a POST of JSON {id, type, created, data} with the header "
            'Keyship-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>." + body, '
            "keyed by the secret>, and Keyship-Event-Id: the event's id (the same on every "
            "attempt: deduplicate by it). Any answer but 2xx, or none within the timeout, is "
            "tried again with backoff. Loopback and private targets are refused. A client "
            "receives only the events its scopes read: order and line events need "
            "orders:read, entitlement, activation and reminder events entitlements:read."
        ),
    )
    def post(self, request):
        data = validate(WebhookEndpointIn, request.data)
        _unknown_accounts(data["account_ids"])
        _readable(data["events"], request.auth)
        endpoint, secret = webhook_endpoint_create(
            **data, actor=request.auth, api_client_id=request.auth.pk
        )
        body = {**WebhookEndpointOut(endpoint).data, "secret": secret}
        return Response(body, status=status.HTTP_201_CREATED)


class WebhookEndpointDetailView(ApiView):
    required_scopes = {
        "GET": Scope.WEBHOOKS_MANAGE,
        "PATCH": Scope.WEBHOOKS_MANAGE,
        "DELETE": Scope.WEBHOOKS_MANAGE,
    }

    @extend_schema(
        operation_id="webhook_endpoints_read",
        summary="One webhook endpoint (its secret is never shown again)",
        responses={200: WebhookEndpointOut, **ERRORS, **NOT_FOUND},
    )
    def get(self, request, endpoint_id: int):
        return Response(WebhookEndpointOut(_endpoint_of(request, endpoint_id)).data)

    @extend_schema(
        operation_id="webhook_endpoints_change",
        summary="Change an endpoint's URL, events or accounts, or disable or enable it",
        request=WebhookEndpointChangeIn,
        responses={200: WebhookEndpointOut, **ERRORS, **NOT_FOUND},
    )
    def patch(self, request, endpoint_id: int):
        endpoint = _endpoint_of(request, endpoint_id)
        data = validate(WebhookEndpointChangeIn, request.data)
        if "account_ids" in data:
            _unknown_accounts(data["account_ids"])
        if "events" in data or data.get("active"):
            _readable(data.get("events", endpoint.events), request.auth)
        endpoint = webhook_endpoint_update(endpoint_id=endpoint.pk, actor=request.auth, **data)
        return Response(WebhookEndpointOut(endpoint).data)

    @extend_schema(
        operation_id="webhook_endpoints_delete",
        summary="Delete an endpoint: it receives nothing more",
        responses={204: None, **ERRORS, **NOT_FOUND},
    )
    def delete(self, request, endpoint_id: int):
        webhook_endpoint_delete(
            endpoint_id=_endpoint_of(request, endpoint_id).pk, actor=request.auth
        )
        return Response(status=status.HTTP_204_NO_CONTENT)
