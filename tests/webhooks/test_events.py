"""Every writer records its events, for the endpoints that receive them, and no event holds
an activation code or a license key."""

import datetime
import json

import pytest
import time_machine

from apps.core.actors import Job
from apps.core.contracts import validate
from apps.entitlements.activations import activations_create, activations_revoke
from apps.entitlements.models import Entitlement
from apps.entitlements.rehosts import activation_rehost
from apps.fulfillment.services import order_lines_fulfil_due
from apps.lms.models import LegacyKey
from apps.notifications.reminders import reminders_queue
from apps.orders.contracts import OrderIn
from apps.orders.models import LineStatus
from apps.orders.services import sales_order_receive
from apps.outbox.events import EVENT_TYPES
from apps.outbox.models import Channel, Delivery
from tests.api.conftest import order_body
from tests.factories.accounts import AccountFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory
from tests.fulfillment.helpers import order_with_lines, today
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db

D = datetime.date
ERP_URL = "https://93.184.215.14/erp"


def events(endpoint=None) -> list[dict]:
    rows = Delivery.objects.filter(channel=Channel.WEBHOOK).order_by("pk")
    if endpoint is not None:
        rows = rows.filter(endpoint=endpoint)
    return [row.payload for row in rows]


def types(endpoint=None) -> list[str]:
    return [event["type"] for event in events(endpoint)]


def at(day):
    return time_machine.travel(
        datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC), tick=False
    )


def test_a_new_order_is_told_once(products):
    erp, _ = endpoint_for(ERP_URL)

    sales_order_receive(data=validate(OrderIn, order_body()), actor=Job("t"))
    sales_order_receive(data=validate(OrderIn, order_body()), actor=Job("t"))  # unchanged

    (event,) = events(erp)
    assert event["type"] == "order.received"
    assert event["data"]["order_number"] == "SO-4711"
    assert event["data"]["account_ids"] == ["0100012345", "0200054321"]
    assert [line["sku"] for line in event["data"]["lines"]] == ["KS-FW-ADV", "KS-TD-1Y"]
    assert Delivery.objects.get(endpoint=erp).topic == "order:SO-4711"


def test_a_shipped_line_and_its_entitlement_and_a_blocked_line_are_told():
    erp, _ = endpoint_for(ERP_URL)
    order = order_with_lines(dates=[today()])
    blocked = order_with_lines(dates=[today()], product=ProductFactory(is_active=False))

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    entitlement = Entitlement.objects.get(order_line__order=order)
    by_type = {event["type"]: event["data"] for event in events(erp)}
    assert sorted(by_type) == ["entitlement.created", "line.blocked", "line.shipped"]
    assert by_type["line.shipped"]["ssrn"] == entitlement.ssrn
    assert by_type["line.shipped"]["order_number"] == order.order_number
    assert by_type["entitlement.created"]["ssrn"] == entitlement.ssrn
    assert by_type["entitlement.created"]["quantity"] == 2
    assert len(by_type["entitlement.created"]["account_ids"]) == 2
    assert by_type["line.blocked"]["order_number"] == blocked.order_number
    assert "no longer sold" in by_type["line.blocked"]["reason"]
    assert blocked.lines.get().status == LineStatus.BLOCKED


def test_activations_and_their_revocation_are_told_per_device():
    erp, _ = endpoint_for(ERP_URL, events=["activation.created", "activation.revoked"])
    order_with_lines(dates=[today()])
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get()

    first, _ = activations_create(
        entitlement_id=entitlement.pk, serial_numbers=["SN-1", "SN-2"], actor=Job("t")
    )
    activations_revoke(activation_ids=[first.pk], actor=Job("t"), reason="device returned")

    assert [(e["type"], e["data"]["serial_number"]) for e in events(erp)] == [
        ("activation.created", "SN-1"),
        ("activation.created", "SN-2"),
        ("activation.revoked", "SN-1"),
    ]
    assert {e["data"]["ssrn"] for e in events(erp)} == {entitlement.ssrn}
    assert set(Delivery.objects.filter(endpoint=erp).values_list("topic", flat=True)) == {
        f"entitlement:{entitlement.ssrn}"
    }


def test_a_renewal_and_the_reminders_are_told():
    product = ProductFactory(sku="TD-1Y", subscription=True)
    renewal = ProductFactory(sku="TD-REN", subscription=True, renews=product)
    with at(D(2026, 12, 1)):
        order = order_with_lines(dates=[D(2026, 12, 1)], product=product)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    entitlement = Entitlement.objects.get()
    erp, _ = endpoint_for(ERP_URL, events=["entitlement.renewed", "reminder.sent"])

    with at(D(2027, 9, 2)):
        reminders_queue()
        reminders_queue()  # told once
    with at(D(2027, 11, 1)):
        renewing = order_with_lines(
            dates=[D(2027, 11, 1)],
            product=renewal,
            end_customer=order.order_accounts.get(role="end_customer").account,
        )
        renewing.lines.update(renews_ssrn=entitlement.ssrn)
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    reminder, renewed = events(erp)
    assert reminder["type"] == "reminder.sent"
    assert reminder["data"]["ssrn"] == entitlement.ssrn
    assert reminder["data"]["window"] == "90"
    assert reminder["data"]["recipients"] == 1
    assert renewed["type"] == "entitlement.renewed"
    assert renewed["data"]["ssrn"] == entitlement.ssrn
    assert renewed["data"]["term_ends_on"] == "2028-12-01"


def test_a_customers_endpoint_gets_only_its_accounts_events_and_the_erp_gets_all():
    northwind, blue_harbor = AccountFactory(), AccountFactory()
    erp, _ = endpoint_for(ERP_URL)
    theirs, _ = endpoint_for("https://93.184.215.14/nw", account_ids=[northwind.account_id])
    others, _ = endpoint_for("https://93.184.215.14/bh", account_ids=[blue_harbor.account_id])
    order_with_lines(dates=[today()], end_customer=northwind)
    order_with_lines(dates=[today()])  # accounts of nobody's endpoint

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    assert len(events(erp)) == 4  # two lines shipped, two entitlements created
    assert types(theirs) == ["entitlement.created", "line.shipped"]
    assert all(northwind.account_id in e["data"]["account_ids"] for e in events(theirs))
    assert events(others) == []


def test_events_waiting_for_an_endpoint_whose_accounts_changed_are_not_sent_to_it():
    # Events recorded for northwind wait (queued, or retrying an endpoint that is down) when
    # the endpoint is changed to receive blue_harbor's events only: they are not northwind's
    # endpoint's any more, so they are not sent to it.
    from apps.outbox.endpoints import webhook_endpoint_update
    from apps.outbox.models import DeliveryStatus

    northwind, blue_harbor = AccountFactory(), AccountFactory()
    endpoint, _ = endpoint_for("https://93.184.215.14/nw", account_ids=[northwind.account_id])
    order_with_lines(dates=[today()], end_customer=northwind)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    waiting = Delivery.objects.filter(endpoint=endpoint)
    assert waiting.count() == 2
    waiting.filter(payload__type="line.shipped").update(status=DeliveryStatus.RETRY, attempts=2)

    webhook_endpoint_update(
        endpoint_id=endpoint.pk, account_ids=[blue_harbor.account_id], actor=Job("t")
    )

    assert set(waiting.values_list("status", flat=True)) == {DeliveryStatus.FAILED}
    assert all("no longer receives" in row.last_error for row in waiting)
    endpoint.refresh_from_db()
    assert endpoint.active and endpoint.consecutive_failures == 0


def test_events_waiting_for_an_endpoint_that_still_receives_them_stay():
    from apps.outbox.endpoints import webhook_endpoint_update
    from apps.outbox.models import DeliveryStatus

    northwind, blue_harbor = AccountFactory(), AccountFactory()
    endpoint, _ = endpoint_for("https://93.184.215.14/nw", account_ids=[northwind.account_id])
    order_with_lines(dates=[today()], end_customer=northwind)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    webhook_endpoint_update(
        endpoint_id=endpoint.pk,
        account_ids=[northwind.account_id, blue_harbor.account_id],
        events=["line.shipped", "order.received"],
        actor=Job("t"),
    )

    statuses = dict(
        Delivery.objects.filter(endpoint=endpoint).values_list("payload__type", "status")
    )
    assert statuses == {
        "line.shipped": DeliveryStatus.QUEUED,
        "entitlement.created": DeliveryStatus.FAILED,
    }


def test_a_disabled_endpoint_or_one_not_subscribed_gets_nothing():
    from apps.outbox.endpoints import webhook_endpoints_disable

    disabled, _ = endpoint_for(ERP_URL)
    webhook_endpoints_disable(endpoint_ids=[disabled.pk], actor=Job("t"))
    orders_only, _ = endpoint_for("https://93.184.215.14/orders", events=["order.received"])
    order_with_lines(dates=[today()])

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    assert events() == []


def test_one_event_has_one_id_for_every_endpoint():
    first, _ = endpoint_for(ERP_URL, events=["entitlement.created"])
    second, _ = endpoint_for("https://93.184.215.14/two", events=["entitlement.created"])
    order_with_lines(dates=[today()])

    order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    (one,), (two,) = events(first), events(second)
    assert one == two


def test_no_event_holds_an_activation_code_or_a_license_key():
    endpoint_for(ERP_URL)
    keyed = ProductFactory(delivery_method="heritage_key")
    LegacyKeyFactory.create_batch(2, product=keyed)
    order_with_lines(dates=[today()])
    order_with_lines(dates=[today()], product=keyed)
    order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    jal = Entitlement.objects.get(product__delivery_method="jal")
    (activation,) = activations_create(
        entitlement_id=jal.pk, serial_numbers=["SN-77"], actor=Job("t")
    )
    activations_revoke(activation_ids=[activation.pk], actor=Job("t"), reason="returned")
    (failed,) = activations_create(entitlement_id=jal.pk, serial_numbers=["SN-88"], actor=Job("t"))
    replacement = activation_rehost(
        activation_id=failed.pk, new_serial_number="SN-89", reason="RMA", actor=Job("t")
    )

    text = json.dumps(events())
    assert {e["type"] for e in events()} >= {
        "line.shipped",
        "entitlement.created",
        "activation.created",
        "activation.revoked",
        "activation.rehosted",
    }
    secrets = [e.activation_code for e in Entitlement.objects.all()]
    secrets += [key.license_key for key in LegacyKey.objects.all()]
    secrets += [activation.license_key, failed.license_key, replacement.license_key]
    assert all(secret and secret not in text for secret in secrets)
    assert all(secret.replace("-", "") not in text.replace("-", "") for secret in secrets)


def test_every_event_type_of_the_catalogue_is_documented():
    assert all(str(description) for description in EVENT_TYPES.values())
    assert set(EVENT_TYPES) == {
        "order.received",
        "line.shipped",
        "line.blocked",
        "entitlement.created",
        "entitlement.renewed",
        "entitlement.transferred",
        "entitlement.split",
        "entitlement.suspended",
        "entitlement.reinstated",
        "entitlement.revoked",
        "activation.created",
        "activation.revoked",
        "activation.rehosted",
        "reminder.sent",
    }
