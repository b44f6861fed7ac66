"""A shipment's entitlements, one selector: those its lines made and those it renewed."""

import datetime

import pytest
from django.utils import timezone

from apps.entitlements.models import Term, TermKind
from apps.entitlements.selectors import shipment_certificates, shipment_entitlements
from apps.fulfillment.services import queued_work_rescue
from tests.factories.entitlements import CertificateFactory, EntitlementFactory
from tests.factories.orders import OrderLineFactory, ShipmentFactory

pytestmark = pytest.mark.django_db


def _shipped(shipment, number, **kwargs):
    return EntitlementFactory(
        order_line__order=shipment.order,
        order_line__line_number=number,
        order_line__shipment=shipment,
        **kwargs,
    )


def _renewed_in(shipment, number, entitlement):
    line = OrderLineFactory(
        order=shipment.order,
        line_number=number,
        product=entitlement.product,
        status="fulfilled",
        fulfilled_at=timezone.now(),
        shipment=shipment,
    )
    return Term.objects.create(
        entitlement=entitlement,
        sequence=entitlement.terms.count() + 2,
        kind=TermKind.RENEWAL,
        order_line=line,
        starts_on=datetime.date(2027, 1, 1),
        ends_on=datetime.date(2027, 12, 31),
    )


@pytest.fixture
def shipments():
    """First: two new entitlements. Second: a renewal of the first's line 1, and a new one."""
    first, second = ShipmentFactory(), ShipmentFactory()
    made = [_shipped(first, 1), _shipped(first, 2)]
    term = _renewed_in(second, 1, made[0])
    made.append(_shipped(second, 2))
    return first, second, made, term


def _rows(delivered):
    return [
        (item.shipment_id, item.line_number, item.entitlement.pk, item.renewal)
        for item in delivered
    ]


def test_a_shipments_entitlements_are_those_it_made_and_those_it_renewed_by_line(shipments):
    first, second, (one, two, three), term = shipments

    delivered = shipment_entitlements(shipment_ids=[first.pk, second.pk])

    assert _rows(delivered) == [
        (first.pk, 1, one.pk, None),
        (first.pk, 2, two.pk, None),
        (second.pk, 1, one.pk, term),
        (second.pk, 2, three.pk, None),
    ]
    assert [item.pk for item in shipment_certificates(shipment_id=second.pk)] == []
    assert _rows(shipment_entitlements(entitlement_ids=[one.pk])) == [
        (first.pk, 1, one.pk, None),
        (second.pk, 1, one.pk, term),
    ]


def test_a_shipments_entitlements_take_two_queries_whatever_their_number(
    shipments, django_assert_num_queries
):
    first, second, (one, *_), _term = shipments
    with django_assert_num_queries(2):
        few = shipment_entitlements(shipment_ids=[first.pk, second.pk])
        [(item.entitlement.product.sku, item.entitlement.order_line.pk) for item in few]

    for number in range(3, 8):
        _shipped(first, number)
        _renewed_in(second, number, _shipped(first, 10 + number))
    with django_assert_num_queries(2):
        many = shipment_entitlements(shipment_ids=[first.pk, second.pk])
        [
            (item.entitlement.product.sku, item.renewal and item.renewal.order_line.product.sku)
            for item in many
        ]

    assert len(many) == len(few) + 15


def test_the_rescuer_hands_back_the_shipment_that_renewed_a_stuck_certificate(shipments):
    first, second, (one, two, three), _term = shipments
    # The renewal's certificate was never rendered (a lost message): its shipment's email waits
    # for it, so that shipment, not only the one that made the entitlement, goes back to work.
    CertificateFactory(entitlement=one, next_attempt_at=timezone.now())

    rescued, _emails = queued_work_rescue(now=timezone.now() + datetime.timedelta(minutes=1))

    assert rescued == sorted([first.pk, second.pk])
