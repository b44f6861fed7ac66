"""The Deliveries list's search box reads an SSRN and an order number in any case, as the
other lists and Find do: Customer Care types what the customer reads out."""

import pytest
from django.urls import reverse

from apps.outbox.models import Channel, DeliveryKind
from apps.outbox.services import delivery_queue

pytestmark = pytest.mark.django_db

DELIVERIES = reverse("admin:outbox_delivery_changelist")


def _found(client, term: str) -> set[str]:
    page = client.get(DELIVERIES, {"q": term})
    assert page.status_code == 200
    return {row.about for row in page.context["cl"].result_list}


def test_an_ssrn_and_an_order_number_are_found_in_any_case(admin_client):
    delivery_queue(
        kind=DeliveryKind.WEBHOOK_EVENT,
        channel=Channel.WEBHOOK,
        topic="entitlement:7QK2-M9XD-41HC",
        about="7QK2-M9XD-41HC",
        recipient="https://erp.example.com/keyship",
    )
    delivery_queue(
        kind=DeliveryKind.ACCESS_DECISION,
        topic="access_request:1",
        about="ERP-9001",
        recipient="buyer@northwind.example",
    )

    assert _found(admin_client, "7QK2-M9XD-41HC") == {"7QK2-M9XD-41HC"}
    assert _found(admin_client, " 7qk2 m9xd 41hc ") == {"7QK2-M9XD-41HC"}
    assert _found(admin_client, "erp-9001") == {"ERP-9001"}
    assert _found(admin_client, "BUYER@Northwind.example") == {"ERP-9001"}
    assert _found(admin_client, "7QK2-M9XD-41HD") == set()
