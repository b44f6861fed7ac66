import copy
import datetime
import json

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.orders.models import LineStatus, OrderLine, SalesOrder
from apps.orders.services import Conflict, orders_import
from tests.factories.catalog import ProductFactory
from tests.factories.orders import ShipmentFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def products():
    subscription = ProductFactory(sku="TD-1Y", subscription=True)
    return {
        "TD-1Y": subscription,
        "RTG": ProductFactory(sku="RTG"),
        "TD-REN": ProductFactory(sku="TD-REN", subscription=True, renews=subscription),
    }


def order(number="1000001", **changes):
    body = {
        "order_number": number,
        "language": "fr",
        "accounts": [
            {"account_id": "0100012345", "name": "Northwind", "role": "end_customer"},
            {"account_id": "0200054321", "name": "Blue Harbor", "role": "partner"},
        ],
        "emails": ["buyer@northwind.example", "Buyer@Northwind.example", "ops@blueharbor.example"],
        "lines": [
            {"line_number": 10, "sku": "TD-1Y", "quantity": 2, "requested_ship_date": "2026-12-01"},
            {"line_number": 20, "sku": "RTG", "quantity": 1, "requested_ship_date": "2026-12-15"},
        ],
    }
    body.update(changes)
    return body


def test_an_order_arrives_with_its_accounts_addresses_and_lines(products):
    result = orders_import(document={"orders": [order()]}, actor=Job("import_orders"))

    assert result.rows == [("order 1000001", "created")]
    stored = SalesOrder.objects.get(order_number="1000001")
    assert stored.language == "fr"
    assert sorted((a.account.account_id, a.role) for a in stored.order_accounts.all()) == [
        ("0100012345", "end_customer"),
        ("0200054321", "partner"),
    ]
    # The same address in two cases receives one email.
    assert sorted(stored.emails.values_list("email", flat=True)) == [
        "buyer@northwind.example",
        "ops@blueharbor.example",
    ]
    lines = list(stored.lines.order_by("line_number"))
    assert [
        (line.line_number, line.product.sku, line.quantity, line.requested_ship_date, line.status)
        for line in lines
    ] == [
        (10, "TD-1Y", 2, datetime.date(2026, 12, 1), LineStatus.OPEN),
        (20, "RTG", 1, datetime.date(2026, 12, 15), LineStatus.OPEN),
    ]


def test_an_order_may_stand_alone_without_the_orders_list(products):
    orders_import(document=order(), actor=Job("import_orders"))

    assert SalesOrder.objects.filter(order_number="1000001").exists()


def test_the_same_order_again_changes_nothing(products):
    orders_import(document=order(), actor=Job("import_orders"))
    updated_at = SalesOrder.objects.get().updated_at

    result = orders_import(document=order(), actor=Job("import_orders"))

    assert result.rows == [("order 1000001", "unchanged")]
    assert SalesOrder.objects.get().updated_at == updated_at


def test_open_lines_follow_the_new_body(products):
    orders_import(document=order(), actor=Job("import_orders"))
    changed = order()
    changed["lines"][0]["requested_ship_date"] = "2027-01-10"
    del changed["lines"][1]

    result = orders_import(document=changed, actor=Job("import_orders"))

    assert result.rows == [("order 1000001", "updated")]
    assert OrderLine.objects.get(line_number=10).requested_ship_date == datetime.date(2027, 1, 10)
    assert OrderLine.objects.get(line_number=20).status == LineStatus.CANCELLED


def test_a_fulfilled_line_cannot_change(products):
    orders_import(document=order(), actor=Job("import_orders"))
    line = OrderLine.objects.get(line_number=10)
    OrderLine.objects.filter(pk=line.pk).update(
        status=LineStatus.FULFILLED,
        fulfilled_at=timezone.now(),
        shipment=ShipmentFactory(order=line.order),
    )
    changed = order()
    changed["lines"][0]["quantity"] = 5

    with pytest.raises(Conflict) as conflict:
        orders_import(document=changed, actor=Job("import_orders"))

    assert conflict.value.errors == [
        "orders[0].lines: line 10 of order 1000001 is fulfilled and cannot change"
    ]
    assert OrderLine.objects.get(line_number=10).quantity == 2


def test_every_bad_field_is_named_with_its_path_and_nothing_is_written(products):
    good = order("1000001")
    bad = order(
        "1000002",
        emails=["nobody"],
        lines=[
            {"line_number": 1, "sku": "NOPE", "quantity": 1, "requested_ship_date": "2026-12-01"},
            {"line_number": 2, "sku": "RTG", "quantity": 0, "requested_ship_date": "2026-02-30"},
        ],
    )

    with pytest.raises(Rejected) as rejected:
        orders_import(document={"orders": [good, bad]}, actor=Job("import_orders"))

    assert rejected.value.errors == [
        "orders[1].emails[0]: Enter a valid email address.",
        "orders[1].lines[1].quantity: Ensure this value is greater than or equal to 1.",
        "orders[1].lines[1].requested_ship_date: "
        "Date has wrong format. Use one of these formats instead: YYYY-MM-DD.",
    ]
    assert SalesOrder.objects.count() == 0


def test_unknown_skus_and_renewals_without_ssrn_are_refused_for_the_whole_file(products):
    bad = order(
        "1000002",
        lines=[
            {"line_number": 1, "sku": "NOPE", "quantity": 1, "requested_ship_date": "2026-12-01"},
            {"line_number": 2, "sku": "TD-REN", "quantity": 1, "requested_ship_date": "2026-12-01"},
            {
                "line_number": 3,
                "sku": "RTG",
                "quantity": 1,
                "requested_ship_date": "2026-12-01",
                "renews_ssrn": "ABCD-EFGH-JKMN",
            },
        ],
    )

    with pytest.raises(Rejected) as rejected:
        orders_import(document={"orders": [order("1000001"), bad]}, actor=Job("import_orders"))

    assert rejected.value.errors == [
        'orders[1].lines[0].sku: unknown SKU "NOPE"',
        'orders[1].lines[1].renews_ssrn: "TD-REN" is a renewal; name the SSRN it renews',
        'orders[1].lines[2].renews_ssrn: "RTG" is not a renewal SKU',
    ]
    assert SalesOrder.objects.count() == 0


def test_an_order_needs_an_end_customer_and_distinct_lines(products):
    bad = order(accounts=[{"account_id": "0200054321", "name": "Blue Harbor", "role": "partner"}])
    bad["lines"][1]["line_number"] = 10

    with pytest.raises(Rejected) as rejected:
        orders_import(document=bad, actor=Job("import_orders"))

    assert rejected.value.errors == [
        "orders[0].accounts: an order needs an end_customer account",
        "orders[0].lines[1].line_number: 10 is already in lines[0]",
    ]


def test_the_command_imports_from_standard_input_and_reports_rows(products, monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO(json.dumps({"orders": [order()]})))

    call_command("import_orders", "-")

    assert "order 1000001: created" in capsys.readouterr().out


def test_the_command_exits_non_zero_and_lists_every_error(products, tmp_path, capsys):
    path = tmp_path / "orders.json"
    bad = copy.deepcopy(order())
    bad["lines"][0]["sku"] = "NOPE"
    path.write_text(json.dumps(bad))

    with pytest.raises(CommandError, match="1 error"):
        call_command("import_orders", str(path))

    assert f'{path}: orders[0].lines[0].sku: unknown SKU "NOPE"' in capsys.readouterr().err
    assert SalesOrder.objects.count() == 0


def test_order_updated_records_each_change_with_its_old_and_new_value(products):
    from apps.core.models import AuditEvent

    orders_import(document=order(), actor=Job("import_orders"))
    changed = order(
        language="de",
        accounts=[
            {"account_id": "0100012345", "name": "Northwind", "role": "end_customer"},
            {"account_id": "0300000003", "name": "Contoso", "role": "distributor"},
        ],
        emails=["buyer@northwind.example", "it@northwind.example"],
        lines=[
            {"line_number": 10, "sku": "RTG", "quantity": 5, "requested_ship_date": "2026-12-02"},
            {"line_number": 30, "sku": "RTG", "quantity": 1, "requested_ship_date": "2026-12-20"},
        ],
    )

    orders_import(document=changed, actor=Job("import_orders"))

    assert AuditEvent.objects.get(action="order.updated").data == {
        "fields": {"language": {"old": "fr", "new": "de"}},
        "accounts_added": [{"account_id": "0300000003", "role": "distributor"}],
        "accounts_removed": [{"account_id": "0200054321", "role": "partner"}],
        "emails_added": ["it@northwind.example"],
        "emails_removed": ["ops@blueharbor.example"],
        "lines_changed": [
            {
                "line_number": 10,
                "changes": {
                    "sku": {"old": "TD-1Y", "new": "RTG"},
                    "quantity": {"old": 2, "new": 5},
                    "requested_ship_date": {"old": "2026-12-01", "new": "2026-12-02"},
                },
            }
        ],
        "lines_added": [
            {
                "line_number": 30,
                "sku": "RTG",
                "quantity": 1,
                "requested_ship_date": "2026-12-20",
                "renews_ssrn": "",
            }
        ],
        "lines_cancelled": [{"line_number": 20, "status": {"old": "open", "new": "cancelled"}}],
    }
    created = AuditEvent.objects.get(action="order.created").data
    assert created["emails_added"] == ["buyer@northwind.example", "ops@blueharbor.example"]
    assert [line["line_number"] for line in created["lines_added"]] == [10, 20]
