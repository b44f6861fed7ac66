"""Calls refused for want of a valid token are audited too, without the token and within a
bound per client address."""

import pytest
from django.test import Client
from django.urls import reverse

from apps.api.models import Scope
from apps.api.services import api_clients_revoke
from apps.core.models import AuditEvent
from tests.api.conftest import api
from tests.factories.accounts import UserFactory

pytestmark = pytest.mark.django_db
ORDER = reverse("api:order", args=["SO-1"])


def _refused():
    return AuditEvent.objects.filter(action="api.call", message__endswith="-> 401").order_by("pk")


def test_calls_without_a_valid_token_are_audited_as_an_unknown_caller_and_without_the_token():
    revoked = api(scopes=[Scope.ORDERS_READ], name="old ERP")
    api_clients_revoke(client_ids=[revoked.api_client.pk], actor=UserFactory(is_staff=True))
    stranger = Client(REMOTE_ADDR="203.0.113.5")

    answers = [
        stranger.get(ORDER),
        stranger.get(ORDER, HTTP_AUTHORIZATION="Bearer not-a-token-at-all"),
        revoked.get(ORDER, REMOTE_ADDR="198.51.100.7"),
    ]

    assert [answer.status_code for answer in answers] == [401, 401, 401]
    events = list(_refused())
    assert [event.message for event in events] == ["GET /api/v1/orders/SO-1/ -> 401"] * 3
    # Whoever sends a revoked token is not the client any more: the address is all we know.
    assert [event.actor_display for event in events] == [
        "unknown caller from 203.0.113.5",
        "unknown caller from 203.0.113.5",
        "unknown caller from 198.51.100.7",
    ]
    assert [(event.actor, event.actor_client_id) for event in events] == [(None, None)] * 3
    assert [event.data["client_address"] for event in events] == [
        "203.0.113.5",
        "203.0.113.5",
        "198.51.100.7",
    ]
    assert [event.data["refused"] for event in events] == ["no token", "unknown token", "revoked"]
    # The revoked client is named, so Customer Care sees who still calls with it.
    assert events[2].target_id == str(revoked.api_client.pk)
    for event in events:
        stored = f"{event.message} {event.data} {event.target_id}"
        assert "not-a-token-at-all" not in stored and revoked.token not in stored


def test_a_flood_of_refused_calls_writes_a_bounded_number_of_audit_events(settings):
    settings.API_REFUSED_AUDIT_RATE = "3/m"
    flooder = Client(REMOTE_ADDR="203.0.113.5")

    statuses = {flooder.get(ORDER, HTTP_AUTHORIZATION=f"Bearer x{n}").status_code for n in range(8)}

    assert statuses == {401}
    assert _refused().count() == 3
    Client(REMOTE_ADDR="198.51.100.7").get(ORDER)
    assert _refused().count() == 4
