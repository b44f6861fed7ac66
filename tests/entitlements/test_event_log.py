"""The entitlement's event log in the customer's words: what each kind of change says, the
reasons Customer Care gave, and never a code, a key, the feed's raw data or who at Keyship
acted."""

import datetime

import pytest
from django.utils import translation

from apps.accounts.models import AccountAssociation
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements.activations import activations_create, activations_revoke
from apps.entitlements.event_log import _Known, _known_to, change_entry, entitlement_event_log
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import Activation, EntitlementChange
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

DAY = datetime.date(2026, 12, 1)


def entry(kind, data=None, status="active", known=None):
    change = EntitlementChange(kind=kind, status=status, effective_on=DAY, data=data or {})
    with translation.override("en"):
        return change_entry(change, **({"known": known} if known else {}))


def said(kind, data=None, **kwargs) -> str:
    """The entry as the page shows it, in one line."""
    shown = entry(kind, data, **kwargs)
    return " | ".join([shown.title, *shown.details, *([shown.reason] if shown.reason else [])])


@pytest.mark.parametrize(
    ("kind", "data", "says"),
    [
        (
            "created",
            {"order_number": "SO-1", "line_number": 10},
            "Shipped | Sales order SO-1, line 10.",
        ),
        (
            "activated",
            {"serial_numbers": ["SN-1", "SN-2"], "seats_used": 2},
            "Devices activated | Serial numbers: SN-1, SN-2.",
        ),
        (
            "activation_revoked",
            {"serial_number": "SN-1", "reason": "RMA 77"},
            "Device activation revoked | Serial number: SN-1. | RMA 77",
        ),
        (
            "renewed",
            {
                "order_number": "SO-2",
                "line_number": 1,
                "term_starts_on": "2027-01-01",
                "term_ends_on": "2027-12-31",
            },
            "Renewed | The term now ends on Dec. 31, 2027.",
        ),
        (
            "certificate_reissued",
            {"certificate_version": 2},
            "Certificate reissued | Certificate version 2.",
        ),
        (
            "paper_delivery_recorded",
            {"certificate_number": "PC-9", "tracking_number": "1Z99"},
            "Paper delivery recorded | Paper certificate PC-9. | Shipment tracking number 1Z99.",
        ),
        ("suspended", {"reason": "Unpaid invoice 4711"}, "Suspended | Unpaid invoice 4711"),
        ("reinstated", {"reason": "Invoice paid"}, "Reinstated | Invoice paid"),
        ("revoked", {"reason": "Contract cancelled"}, "Revoked | Contract cancelled"),
        (
            "transferred",
            {"reason": "Merger", "account_ids": ["0100000002"]},
            "Transferred | To another account. | Merger",
        ),
        (
            "split",
            {"reason": "Second site", "seats_moved": 3, "new_ssrn": "AAAA-BBBB-CCCC"},
            "Split | Quantity 3 moved to a new entitlement. | Second site",
        ),
        (
            "created",
            {"split_from": "AAAA-BBBB-CCCC"},
            "Split off | Split off from another entitlement.",
        ),
        (
            "rehosted",
            {"serial_number": "SN-1", "new_serial_number": "SN-9", "reason": "Board replaced"},
            "Rehosted | Moved from the device SN-1 to the device SN-9. | Board replaced",
        ),
    ],
)
def test_each_kind_reads_as_the_customer_would_say_it(kind, data, says):
    assert said(kind, data) == says


@pytest.mark.parametrize(
    ("status", "says"),
    [
        ("grace", "Grace period began | The term has ended: renew before the grace period ends."),
        ("expired", "Expired"),
    ],
)
def test_the_calendars_moves_say_what_they_mean(status, says):
    assert said("status_changed", {"from": "active"}, status=status) == says


def test_a_transfer_or_split_names_only_the_accounts_and_entitlements_the_viewer_knows():
    known = _Known(account_ids=frozenset({"0100000002"}), ssrns=frozenset({"AAAA-BBBB-CCCC"}))
    transfer = {"account_ids": ["0100000002", "0100000003"]}

    assert said("transferred", transfer, known=known) == (
        "Transferred | To your account 0100000002."
    )
    assert "0100000003" not in said("transferred", transfer, known=known)
    assert said("split", {"seats_moved": 2, "new_ssrn": "AAAA-BBBB-CCCC"}, known=known) == (
        "Split | Quantity 2 moved to the new entitlement AAAA-BBBB-CCCC."
    )
    assert said("created", {"split_from": "AAAA-BBBB-CCCC"}, known=known) == (
        "Split off | Split off from AAAA-BBBB-CCCC."
    )


@pytest.mark.parametrize(
    ("kind", "data"),
    [
        ("merged", {"reason": "secret note", "internal_code": "X-1", "staff": "Carla"}),
        ("suspended", {"reason": ["not", "a", "text"]}),
        ("activated", {"serial_numbers": "SN-1"}),
        ("renewed", {"term_ends_on": "not a date"}),
        ("created", {"order_number": {"nested": 1}}),
        ("certificate_reissued", {"certificate_version": True}),
    ],
)
def test_unknown_kinds_and_malformed_data_show_no_raw_data(kind, data):
    shown = said(kind, data)

    assert shown in {
        "Updated",
        "Suspended",
        "Devices activated | Serial numbers: SN-1.",
        "Renewed",
        "Shipped",
        "Certificate reissued",
    }
    assert not any(word in shown for word in ("secret", "X-1", "Carla", "{", "[", "True"))


def test_a_reason_is_shown_only_for_the_kinds_whose_reason_is_the_customers():
    assert entry("certificate_reissued", {"certificate_version": 2, "reason": "typo"}).reason == ""
    assert entry("suspended", {"reason": "  credit\n hold "}).reason == "credit hold"


def test_a_hundred_serial_numbers_are_summed_up():
    serials = [f"SN-{n:03d}" for n in range(100)]

    (detail,) = entry("activated", {"serial_numbers": serials}).details

    assert detail.startswith("Serial numbers: SN-000, SN-001,") and "SN-010" not in detail
    assert detail.endswith("and 90 more.")


def test_the_words_follow_the_language():
    change = EntitlementChange(kind="suspended", status="suspended", effective_on=DAY, data={})
    with translation.override("de"):
        assert change_entry(change).title == "Gesperrt"


@pytest.mark.django_db
def test_the_log_tells_the_story_newest_first_with_reasons_and_never_the_staff_members_name():
    # Given an entitlement activated, suspended, reinstated and revoked by a named staff member
    account = new_account()
    viewer = portal_contact(account)
    entitlement = entitlement_of(account, quantity=3)
    carla = UserFactory(is_staff=True, name="Carla Care")
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=viewer.user)
    entitlement_suspend(entitlement_id=entitlement.pk, reason="Unpaid invoice 4711", actor=carla)
    entitlement_reinstate(entitlement_id=entitlement.pk, reason="Invoice paid", actor=carla)
    entitlement_revoke(entitlement_id=entitlement.pk, reason="Contract cancelled", actor=carla)

    # When the viewer's log is read
    with translation.override("en"):
        log = entitlement_event_log(entitlement=entitlement, user=viewer.user)

    # Then it tells each change, newest first, with the reasons and no name
    assert [(e.title, e.reason) for e in log.entries] == [
        ("Revoked", "Contract cancelled"),
        ("Device activation revoked", "Contract cancelled"),
        ("Reinstated", "Invoice paid"),
        ("Suspended", "Unpaid invoice 4711"),
        ("Devices activated", ""),
    ]
    assert not log.more
    assert AuditEvent.objects.filter(actor_name="Carla Care").count() == 4  # the audit knows
    assert "Carla" not in repr(log)
    assert Activation.objects.get().revoke_reason == "Contract cancelled"


@pytest.mark.django_db
def test_the_log_is_read_in_one_query_and_shows_the_latest_hundred(django_assert_num_queries):
    account = new_account()
    viewer = portal_contact(account)
    entitlement = entitlement_of(account, quantity=200)
    activations_create(
        entitlement_id=entitlement.pk,
        serial_numbers=[f"SN-{n}" for n in range(101)],
        actor=viewer.user,
    )
    for activation in Activation.objects.order_by("pk"):
        activations_revoke(activation_ids=[activation.pk], actor=viewer.user, reason="moved")

    with django_assert_num_queries(1):
        log = entitlement_event_log(entitlement=entitlement, user=viewer.user)

    assert len(log.entries) == 100 and log.more
    assert log.entries[0].details == ["Serial number: SN-100."]


@pytest.mark.django_db
def test_transfers_and_splits_are_told_as_far_as_the_viewer_may_know_in_one_more_query(
    django_assert_num_queries,
):
    # Given a transfer from another customer's account to the viewer's, and a split into an
    # entitlement the viewer sees and one the viewer does not (as the feed records them)
    previous, receiving = new_account(), new_account()
    viewer = portal_contact(receiving)
    mine, theirs = entitlement_of(receiving), entitlement_of(previous)
    transfer = {"account_ids": [receiving.account_id]}
    rows = [
        EntitlementChange(kind=kind, status="active", effective_on=DAY, data=data)
        for kind, data in [
            ("transferred", {"reason": "Acquired", **transfer}),
            ("split", {"reason": "x", "seats_moved": 1, "new_ssrn": mine.ssrn}),
            ("split", {"reason": "y", "seats_moved": 1, "new_ssrn": theirs.ssrn}),
        ]
    ]

    with django_assert_num_queries(1):
        known = _known_to(viewer.user, rows)

    with translation.override("en"):
        transferred, split_mine, split_theirs = [change_entry(row, known=known) for row in rows]
    assert transferred.details == [f"To your account {receiving.account_id}."]
    assert split_mine.details == [f"Quantity 1 moved to the new entitlement {mine.ssrn}."]
    assert split_theirs.details == ["Quantity 1 moved to a new entitlement."]
    AccountAssociation.objects.create(contact=viewer, account=previous)
    assert _known_to(viewer.user, rows) == _Known(
        account_ids=frozenset({receiving.account_id}),
        ssrns=frozenset({mine.ssrn, theirs.ssrn}),
    )


@pytest.mark.django_db
def test_the_new_owner_reads_no_reason_given_to_the_previous_owners():
    from apps.entitlements.transfers import entitlement_transfer

    # Given an entitlement suspended for its first owner's unpaid invoice, then sold
    first, buyer = new_account(), new_account()
    new_owner = portal_contact(buyer)
    entitlement = entitlement_of(first, quantity=3)
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-1"], actor=new_owner.user)
    activations_revoke(
        activation_ids=[Activation.objects.get().pk], actor=new_owner.user, reason="Our RMA 17"
    )
    entitlement_suspend(
        entitlement_id=entitlement.pk, reason="Unpaid invoice 4711", actor=Job("test")
    )
    entitlement_reinstate(entitlement_id=entitlement.pk, reason="Invoice paid", actor=Job("test"))
    entitlement_transfer(
        entitlement_id=entitlement.pk,
        account_ids=[buyer.account_id],
        reason="Plant sold to the buyer",
        actor=Job("test"),
    )
    entitlement_suspend(
        entitlement_id=entitlement.pk, reason="Buyer's credit check", actor=Job("test")
    )

    # When the new owner reads the log
    with translation.override("en"):
        log = entitlement_event_log(entitlement=entitlement, user=new_owner.user)

    # Then the transfer and what came after keep their reasons, what came before has none
    reasons = [(e.title, e.reason) for e in log.entries if e.title != "Certificate reissued"]
    assert reasons == [
        ("Suspended", "Buyer's credit check"),
        ("Transferred", "Plant sold to the buyer"),
        ("Reinstated", ""),
        ("Suspended", ""),
        ("Device activation revoked", ""),
        ("Devices activated", ""),
    ]
    assert "4711" not in repr(log) and "RMA 17" not in repr(log)
