"""POST /api/v1/orders/ and the order's lines: idempotent, with errors that name the field."""

import datetime
import threading

import pytest
import time_machine
from django.db import connection
from django.urls import reverse

from apps.api.models import Scope
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.fulfillment.services import order_lines_fulfil_due
from apps.orders.models import LineStatus, OrderLine, SalesOrder
from tests.api.conftest import api, order_body

ORDERS = reverse("api:orders")


def _order_events():
    return AuditEvent.objects.filter(action__startswith="order.").count()


def test_a_new_order_is_201_and_the_same_body_again_is_200_with_nothing_written(erp, products):
    created = erp.post(ORDERS, order_body(), format="json")
    events = _order_events()

    again = erp.post(ORDERS, order_body(), format="json")

    assert created.status_code == 201 and again.status_code == 200
    assert again.json() == created.json()
    assert created.json()["lines"][0] == {
        "line_number": 1,
        "sku": "KS-FW-ADV",
        "quantity": 2,
        "requested_ship_date": "2026-12-01",
        "renews_ssrn": "",
        "status": "open",
        "status_reason": "",
        "fulfilled_at": None,
        "ssrn": None,
    }
    assert _order_events() == events and SalesOrder.objects.count() == 1


def test_open_lines_may_change_but_shipped_lines_are_a_409_naming_them(erp, products):
    erp.post(ORDERS, order_body(), format="json")
    body = order_body()
    body["lines"][1]["quantity"] = 5
    assert erp.post(ORDERS, body, format="json").status_code == 200
    assert OrderLine.objects.get(line_number=2).quantity == 5

    with time_machine.travel(datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    body["lines"][0]["quantity"] = 3
    conflict = erp.post(ORDERS, body, format="json")

    assert conflict.status_code == 409
    assert conflict.json()["errors"] == [
        "lines: line 1 of order SO-4711 is fulfilled and cannot change"
    ]
    assert OrderLine.objects.get(line_number=1).quantity == 2


def test_a_renewal_must_name_the_entitlements_end_customer(erp, products):
    """A stranger's order cannot renew (and so receive) someone else's subscription; the
    entitlement's own end customer may, through any reseller, and the same body posted again
    stays a 200 whatever became of the entitlement since."""
    from apps.catalog.models import Product
    from apps.entitlements.models import Entitlement
    from tests.factories.catalog import ProductFactory

    ProductFactory(sku="KS-TD-REN", subscription=True, renews=Product.objects.get(sku="KS-TD-1Y"))
    erp.post(ORDERS, order_body(), format="json")
    with time_machine.travel(datetime.datetime(2027, 1, 15, 9, tzinfo=datetime.UTC)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    ssrn = Entitlement.objects.get(product__sku="KS-TD-1Y").ssrn
    line = {
        "line_number": 1,
        "sku": "KS-TD-REN",
        "quantity": 1,
        "requested_ship_date": "2027-12-01",
        "renews_ssrn": ssrn,
    }
    reseller = {"account_id": "0200099999", "name": "New Reseller", "role": "partner"}
    stranger = order_body(
        "SO-9001",
        accounts=[
            {"account_id": "0300000001", "name": "Stranger Inc", "role": "end_customer"},
            {"account_id": "0200054321", "name": "Blue Harbor", "role": "partner"},
        ],
        emails=["someone@stranger.example"],
        lines=[line],
    )

    refused = erp.post(ORDERS, stranger, format="json")

    assert refused.status_code == 400
    assert refused.json()["errors"] == [
        f'lines[0].renews_ssrn: "{ssrn}" belongs to another end customer: a renewal must '
        "name the end customer of the entitlement it renews"
    ]
    assert not SalesOrder.objects.filter(order_number="SO-9001").exists()
    own = order_body(
        "SO-9002",
        accounts=[
            {"account_id": "0100012345", "name": "Northwind Networks", "role": "end_customer"},
            reseller,
        ],
        emails=["sales@reseller.example"],
        lines=[line],
    )
    assert erp.post(ORDERS, own, format="json").status_code == 201
    # Changing an open renewal order's end customer is checked as a new order is.
    moved = erp.post(ORDERS, {**own, "accounts": stranger["accounts"]}, format="json")
    assert moved.status_code == 400 and "belongs to another end customer" in moved.text
    with time_machine.travel(datetime.datetime(2027, 12, 1, 9, tzinfo=datetime.UTC)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    assert OrderLine.objects.get(order__order_number="SO-9002").status == LineStatus.FULFILLED
    Entitlement.objects.filter(ssrn=ssrn).update(revoked_at=datetime.datetime.now(datetime.UTC))
    again = erp.post(ORDERS, own, format="json")
    assert (again.status_code, again.json()["lines"][0]["status"]) == (200, "fulfilled")


def test_bad_input_names_every_field_and_writes_nothing(erp, products):
    body = order_body()
    body["lines"][1]["sku"] = "NOPE"
    body["lines"][0]["requested_ship_date"] = "2026-02-30"
    body["emails"] = ["not-an-address"]

    response = erp.post(ORDERS, body, format="json")

    assert response.status_code == 400
    errors = response.json()["errors"]
    assert "emails[0]: Enter a valid email address." in errors
    assert any(e.startswith("lines[0].requested_ship_date:") for e in errors)
    assert not SalesOrder.objects.exists()
    body = order_body()
    body["lines"][1]["sku"] = "NOPE"
    assert erp.post(ORDERS, body, format="json").json()["errors"] == [
        'lines[1].sku: unknown SKU "NOPE"'
    ]


def test_an_idempotency_key_replays_the_first_answer_and_refuses_another_body(erp, products):
    first = erp.post(ORDERS, order_body(), format="json", HTTP_IDEMPOTENCY_KEY="erp-77")
    replay = erp.post(ORDERS, order_body(), format="json", HTTP_IDEMPOTENCY_KEY="erp-77")
    other = erp.post(ORDERS, order_body("SO-4712"), format="json", HTTP_IDEMPOTENCY_KEY="erp-77")

    assert (first.status_code, replay.status_code) == (201, 201)
    assert replay.json() == first.json()
    assert other.status_code == 422
    assert "erp-77 was used for another request" in other.json()["errors"][0]
    assert not SalesOrder.objects.filter(order_number="SO-4712").exists()


def test_the_body_and_the_lines_have_limits(erp, products, settings):
    body = order_body()
    body["lines"] = [
        {"line_number": n, "sku": "KS-FW-ADV", "quantity": 1, "requested_ship_date": "2026-12-01"}
        for n in range(1, 1002)
    ]
    assert erp.post(ORDERS, body, format="json").status_code == 400
    settings.API_MAX_BODY_BYTES = 100
    too_big = erp.post(ORDERS, order_body(), format="json")
    assert too_big.status_code == 413 and too_big.json()["errors"]


def test_a_line_is_rescheduled_held_released_and_cancelled_until_it_ships(erp, products):
    erp.post(ORDERS, order_body(), format="json")
    line = reverse("api:order-line", args=["SO-4711", 1])

    moved = erp.patch(line, {"requested_ship_date": "2026-12-20"}, format="json")
    held = erp.post(f"{line}hold/", {"reason": "credit check"}, format="json")
    released = erp.post(f"{line}release/", {}, format="json")

    assert moved.json()["lines"][0]["requested_ship_date"] == "2026-12-20"
    assert held.json()["lines"][0]["status"] == "on_hold"
    assert released.json()["lines"][0]["status"] == "open"
    with time_machine.travel(datetime.datetime(2026, 12, 21, 9, tzinfo=datetime.UTC)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    shipped = erp.get(reverse("api:order", args=["SO-4711"])).json()["lines"][0]
    assert shipped["status"] == "fulfilled" and shipped["ssrn"]
    late = erp.patch(line, {"requested_ship_date": "2027-01-01"}, format="json")
    cancel = erp.post(f"{line}cancel/", {}, format="json")
    assert (late.status_code, cancel.status_code) == (409, 409)
    assert late.json()["errors"] == [
        "lines: line 1 of order SO-4711 is fulfilled and cannot change"
    ]
    assert cancel.json()["errors"] == [
        "lines: line 1 of order SO-4711 is fulfilled and cannot be cancelled"
    ]
    assert OrderLine.objects.get(line_number=1).status == LineStatus.FULFILLED


def test_unknown_orders_and_lines_are_404(erp, products):
    assert erp.get(reverse("api:order", args=["SO-0000"])).status_code == 404
    patch = erp.patch(reverse("api:order-line", args=["SO-0000", 1]), {}, format="json")
    assert patch.status_code == 404 and patch.json()["errors"]


@pytest.mark.django_db
def test_tokens_scopes_and_the_audit_of_every_call(products, client):
    reader = api(scopes=[Scope.ORDERS_READ], name="reader")

    assert client.post(ORDERS, order_body(), content_type="application/json").status_code == 401
    refused = reader.post(ORDERS, order_body(), format="json")
    assert refused.status_code == 403
    assert refused.json() == {"errors": ['This API client lacks the scope "orders:write".']}
    wrong = client.get(reverse("api:order", args=["SO-1"]), HTTP_AUTHORIZATION="Bearer nope")
    assert wrong.status_code == 401

    calls = AuditEvent.objects.filter(action="api.call", target_id=str(reader.api_client.pk))
    assert list(calls.values_list("message", flat=True)) == ["POST /api/v1/orders/ -> 403"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_identical_posts_at_the_same_moment_make_one_order(products):
    clients = [api(scopes=[Scope.ORDERS_WRITE], name=f"erp-{n}") for n in range(2)]
    for round_number in range(5):
        start, statuses = threading.Barrier(2), []

        def send(http, start=start, statuses=statuses, number=f"SO-90{round_number}"):
            start.wait()
            statuses.append(http.post(ORDERS, order_body(number), format="json").status_code)
            connection.close()

        threads = [threading.Thread(target=send, args=(http,)) for http in clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses) == [200, 201]
    assert SalesOrder.objects.count() == 5
    assert AuditEvent.objects.filter(action="order.created").count() == 5
