"""A split and an activation of the same entitlement at the same moment, on two PostgreSQL
connections: they take turns on the entitlement's row lock, so the seats in use never
exceed the seats left, whichever goes first."""

import threading

import pytest
from django.db import connection, transaction

from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Activation, Entitlement
from apps.entitlements.transfers import entitlement_split
from tests.portal.helpers import entitlement_of, new_account

# Row locks: PostgreSQL's (SQLite locks the whole database).
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.postgres]

CARE = Job("test")


def _split(entitlement_id):
    return entitlement_split(
        entitlement_id=entitlement_id,
        quantity=1,
        account_ids=["0300077777"],
        reason="a seat for the subsidiary",
        actor=CARE,
    )


def _activate(entitlement_id):
    return activations_create(
        entitlement_id=entitlement_id, serial_numbers=["SN-1", "SN-2"], actor=CARE
    )


def _race(first, second, entitlement_id):
    """`first` runs in a transaction that stays open; `second` starts meanwhile on another
    connection. Returns whether `second` finished before `first` committed, and each
    outcome ("done" or the refusal)."""
    holding, release, outcomes = threading.Event(), threading.Event(), {}

    def run(name, action, hold):
        try:
            with transaction.atomic():
                action(entitlement_id)
                if hold:
                    holding.set()
                    release.wait(10)
            outcomes[name] = "done"
        except Rejected as rejected:
            outcomes[name] = rejected.errors[0]
        finally:
            holding.set()
            connection.close()

    one = threading.Thread(target=run, args=("first", first, True))
    one.start()
    assert holding.wait(10)
    two = threading.Thread(target=run, args=("second", second, False))
    two.start()
    two.join(1.0)
    overtook = not two.is_alive()
    release.set()
    one.join(10)
    two.join(10)
    return overtook, outcomes


@pytest.fixture
def two_seats():
    new_account(account_id="0300077777")
    return entitlement_of(new_account(account_id="0100012345"), quantity=2)


def _seats(entitlement_id):
    entitlement = Entitlement.objects.get(pk=entitlement_id)
    live = Activation.objects.filter(entitlement=entitlement, revoked_at__isnull=True).count()
    return entitlement.quantity, live


def test_a_split_waits_for_an_activation_and_then_finds_no_free_seat(two_seats):
    overtook, outcomes = _race(_activate, _split, two_seats.pk)

    quantity, live = _seats(two_seats.pk)
    assert not overtook  # the split waited for the activation's lock
    assert outcomes["first"] == "done"
    assert "quantity: 0 of the 2 seats" in outcomes["second"]
    assert (quantity, live) == (2, 2)
    assert Entitlement.objects.count() == 1


def test_an_activation_waits_for_a_split_and_then_finds_one_seat_left(two_seats):
    overtook, outcomes = _race(_split, _activate, two_seats.pk)

    quantity, live = _seats(two_seats.pk)
    assert not overtook  # the activation waited for the split's lock
    assert outcomes["first"] == "done"
    assert "need 2 seat(s), but 1 of the 1 seats" in outcomes["second"]
    assert (quantity, live) == (1, 0)
    assert Entitlement.objects.count() == 2
    assert live <= quantity
