"""Events cost the fulfilment sweep a fixed number of queries per batch, however many lines
it ships: none listening, two look-ups; endpoints listening, a few more."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.outbox.models import Channel, Delivery
from tests.factories.catalog import ProductFactory
from tests.fulfillment.helpers import order_with_lines, today
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db


def sweep_queries(orders: int, product) -> list[str]:
    for _ in range(orders):
        order_with_lines(dates=[today(), today()], product=product)
    with CaptureQueriesContext(connection) as captured:
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    return [query["sql"] for query in captured.captured_queries]


def endpoint_lookups(queries) -> int:
    return sum('FROM "outbox_webhookendpoint"' in sql for sql in queries)


def test_with_no_endpoint_the_sweep_looks_twice_per_batch_and_writes_no_event():
    product = ProductFactory()

    few, many = sweep_queries(2, product), sweep_queries(6, product)

    assert endpoint_lookups(few) == endpoint_lookups(many) == 2  # lines, then entitlements
    assert not Delivery.objects.filter(channel=Channel.WEBHOOK).exists()


def test_endpoints_listening_add_the_same_few_queries_to_a_batch_of_any_size():
    product = ProductFactory()
    quiet = [len(sweep_queries(n, product)) for n in (2, 6)]
    endpoint_for("https://93.184.215.14/erp")
    endpoint_for("https://93.184.215.14/other", events=["line.shipped"])

    listened = [len(sweep_queries(n, product)) for n in (2, 6)]

    extra = [b - a for a, b in zip(quiet, listened, strict=True)]
    assert extra == [5, 5]  # per kind: who the accounts are, the deliveries; and the SKUs
    # 16 lines: each shipped to both endpoints, each entitlement created to the ERP's
    assert Delivery.objects.filter(channel=Channel.WEBHOOK).count() == 16 * 3
