"""Rehost (RMA): an activation moves from a failed device to its replacement. Through the
services, what the contacts, the requester, the feed, the webhooks and key verification see;
in the portal as the owner and as a stranger; in the admin as Customer Care and Operations;
and two approvals at once."""

import datetime
import threading

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import Contact
from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from apps.entitlements.activations import activations_create
from apps.entitlements.key_checks import KeyVerdict, license_key_check
from apps.entitlements.lifecycle import entitlement_revoke, entitlement_suspend
from apps.entitlements.models import (
    Activation,
    EntitlementChange,
    RehostRequest,
    RehostRequestStatus,
)
from apps.entitlements.rehosts import (
    activation_rehost,
    rehost_request_approve,
    rehost_request_create,
    rehost_request_deny,
)
from apps.outbox.kinds import email_kind
from apps.outbox.models import Channel, Delivery, DeliveryKind
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db

CARE = Job("test")
TODAY = datetime.date.today


@pytest.fixture
def owned():
    """An entitlement of two seats with two devices; a German contact of the end customer
    (the owner who asks), an English one of the partner, and a stranger of another account
    with an entitlement and a device of their own."""
    end_customer, partner = new_account(), new_account()
    entitlement = entitlement_of(end_customer, partner, quantity=2)
    anna = portal_contact(end_customer, email="anna@northwind.example")
    anna.language = "de"
    anna.save()
    portal_contact(partner, email="bob@harbor.example")
    activations_create(entitlement_id=entitlement.pk, serial_numbers=["SN-OLD", "SN-2"], actor=CARE)
    return entitlement


@pytest.fixture
def anna(owned):
    """The owner: a contact of the end customer."""
    return Contact.objects.get(user__email="anna@northwind.example")


@pytest.fixture
def stranger():
    account = new_account()
    contact = portal_contact(account, email="mallory@elsewhere.example")
    theirs = entitlement_of(account, quantity=1)
    activations_create(entitlement_id=theirs.pk, serial_numbers=["SN-THEIRS"], actor=CARE)
    return contact.user, theirs


def old_activation(entitlement):
    return entitlement.activations.get(serial_number="SN-OLD")


def live_serials(entitlement):
    return sorted(
        entitlement.activations.filter(revoked_at__isnull=True).values_list(
            "serial_number", flat=True
        )
    )


def written(delivery):
    return email_kind(delivery.kind).writer([delivery])(delivery)


def snapshot():
    """Everything a rehost or a request writes, to compare before and after a refusal."""
    return (
        list(Activation.objects.order_by("pk").values_list("pk", "revoked_at", "license_key")),
        RehostRequest.objects.count(),
        list(RehostRequest.objects.order_by("pk").values_list("status", flat=True)),
        AuditEvent.objects.count(),
        EntitlementChange.objects.count(),
        Delivery.objects.count(),
    )


# The service ------------------------------------------------------------------------------


def test_a_rehost_moves_the_seat_revokes_the_old_key_and_gives_the_new_device_a_key(owned):
    erp, _secret = endpoint_for("https://93.184.215.14/erp", events=["activation.rehosted"])
    old = old_activation(owned)
    changes_before = EntitlementChange.objects.count()

    new = activation_rehost(
        activation_id=old.pk, new_serial_number=" sn-new ", reason="RMA 4711: PSU", actor=CARE
    )

    old.refresh_from_db()
    assert new.serial_number == "SN-NEW" and new.rehosted_from == old
    assert old.revoked_at is not None
    assert old.revoke_reason == "Rehosted to SN-NEW: RMA 4711: PSU"
    assert live_serials(owned) == ["SN-2", "SN-NEW"]  # two seats before, two after
    assert license_key_check(text=new.license_key, today=TODAY()).verdict == KeyVerdict.CURRENT
    assert license_key_check(text=old.license_key, today=TODAY()).verdict == KeyVerdict.REVOKED
    audit = AuditEvent.objects.get(action="activation.rehosted")
    assert audit.actor_name == "test" and audit.message == "RMA 4711: PSU"
    assert audit.data["serial_number"] == "SN-OLD"
    assert audit.data["new_serial_number"] == "SN-NEW"
    assert audit.data["seats_used"] == 2
    assert new.license_key not in str(audit.data) and old.license_key not in str(audit.data)
    (change,) = EntitlementChange.objects.filter(kind="rehosted")
    assert EntitlementChange.objects.count() == changes_before + 1
    assert change.data == {
        "serial_number": "SN-OLD",
        "new_serial_number": "SN-NEW",
        "reason": "RMA 4711: PSU",
    }
    (event,) = Delivery.objects.filter(channel=Channel.WEBHOOK, endpoint=erp)
    assert event.payload["type"] == "activation.rehosted"
    assert event.payload["data"]["ssrn"] == owned.ssrn
    assert event.payload["data"]["new_serial_number"] == "SN-NEW"


def test_the_contacts_get_the_new_key_in_their_language_and_it_is_stored_nowhere_else(owned):
    old = old_activation(owned)

    new = activation_rehost(
        activation_id=old.pk, new_serial_number="SN-NEW", reason="RMA 4711", actor=CARE
    )

    notices = {d.recipient: d for d in Delivery.objects.filter(kind=DeliveryKind.REHOST_NOTICE)}
    assert sorted(notices) == ["anna@northwind.example", "bob@harbor.example"]
    assert all(new.license_key not in str(d.payload) for d in notices.values())
    german = written(notices["anna@northwind.example"])
    english = written(notices["bob@harbor.example"])
    assert "SN-OLD" in german.subject and "SN-NEW" in german.subject
    assert "Ersatzgerät" in german.body
    assert "has moved to the replacement device SN-NEW" in english.body
    assert "RMA 4711" in english.body
    ((filename, attached, _mime),) = english.attachments
    assert attached.strip() == new.license_key.strip()
    assert old.license_key not in attached
    assert owned.activation_code not in english.body


def test_the_key_is_not_attached_once_the_entitlement_is_suspended(owned):
    activation_rehost(
        activation_id=old_activation(owned).pk,
        new_serial_number="SN-NEW",
        reason="RMA",
        actor=CARE,
    )
    entitlement_suspend(entitlement_id=owned.pk, reason="unpaid", actor=CARE)

    notice = Delivery.objects.filter(kind=DeliveryKind.REHOST_NOTICE).first()
    message = written(notice)

    assert message.attachments == []
    assert "is not handed out now" in message.body


def _expire(entitlement):
    entitlement.starts_on = TODAY() - datetime.timedelta(days=400)
    entitlement.term_ends_on = entitlement.grace_ends_on = TODAY() - datetime.timedelta(days=2)
    entitlement.save()


def _revoke_old(entitlement):
    Activation.objects.filter(serial_number="SN-OLD").update(
        revoked_at=timezone.now(), revoke_reason="returned"
    )


def _suspend(entitlement):
    entitlement_suspend(entitlement_id=entitlement.pk, reason="unpaid", actor=CARE)


def _revoke(entitlement):
    entitlement_revoke(entitlement_id=entitlement.pk, reason="cancelled", actor=CARE)


@pytest.mark.parametrize(
    ("given", "new_serial", "reason", "says"),
    [
        (_suspend, "SN-NEW", "RMA", "is suspended"),
        (_revoke, "SN-NEW", "RMA", "is revoked"),
        (_expire, "SN-NEW", "RMA", "is expired"),
        (_revoke_old, "SN-NEW", "RMA", "is revoked already"),
        (None, "", "RMA", "enter the replacement device's serial number"),
        (None, "   ", "RMA", "enter the replacement device's serial number"),
        (None, "SN NEW", "RMA", "is not a serial number"),
        (None, "X" * 65, "RMA", "is not a serial number"),
        (None, "SN-NEW\n", "RMA", None),  # a trailing newline is only whitespace
        (None, "sn-old", "RMA", "is the failed device's own"),
        (None, "sn-2", "RMA", "is already activated on"),
        (None, "SN-NEW", "", "reason: say why"),
        (None, "SN-NEW", "x" * 201, "at most 200 characters"),
    ],
)
def test_a_refused_rehost_writes_nothing_and_says_why(owned, given, new_serial, reason, says):
    if given:
        given(owned)
    old = old_activation(owned)
    before = snapshot()

    if says is None:
        activation_rehost(
            activation_id=old.pk, new_serial_number=new_serial, reason=reason, actor=CARE
        )
        assert "SN-NEW" in live_serials(owned)
        return
    with pytest.raises(Rejected) as refused:
        activation_rehost(
            activation_id=old.pk, new_serial_number=new_serial, reason=reason, actor=CARE
        )

    assert says in refused.value.errors[0]
    assert snapshot() == before


def test_a_rehost_of_a_mixed_case_serial_compares_without_case(owned):
    # A serial stored in another case (an import) is still the failed device's own.
    Activation.objects.filter(serial_number="SN-2").update(serial_number="sn-lower")
    activation = owned.activations.get(serial_number="sn-lower")

    with pytest.raises(Rejected, match="failed device's own"):
        activation_rehost(
            activation_id=activation.pk, new_serial_number="SN-LOWER", reason="x", actor=CARE
        )
    with pytest.raises(Rejected, match="already activated"):
        activation_rehost(
            activation_id=old_activation(owned).pk,
            new_serial_number="SN-Lower",
            reason="x",
            actor=CARE,
        )


# Requests ---------------------------------------------------------------------------------


def _ask(owned, user, serial="SN-NEW", reason="RMA 4711: fan died"):
    return rehost_request_create(
        activation_id=old_activation(owned).pk,
        new_serial_number=serial,
        reason=reason,
        user=user,
        language="de",
    )


def test_an_approved_request_rehosts_and_tells_the_requester(owned, anna):
    user = anna.user
    request = _ask(owned, user)
    assert request.status == RehostRequestStatus.PENDING
    assert AuditEvent.objects.filter(action="rehost_request.created", actor_id=user.pk).exists()
    staff = UserFactory(is_staff=True)

    rehost_request_approve(request_id=request.pk, actor=staff, note="Replaced under warranty")

    request.refresh_from_db()
    assert request.status == RehostRequestStatus.APPROVED and request.decided_by == staff
    assert request.new_activation.serial_number == "SN-NEW"
    assert live_serials(owned) == ["SN-2", "SN-NEW"]
    rehosted = AuditEvent.objects.get(action="activation.rehosted")
    assert rehosted.actor_id == staff.pk and rehosted.data["rehost_request"] == request.pk
    assert AuditEvent.objects.get(action="rehost_request.approved").data["status"] == {
        "old": "pending",
        "new": "approved",
    }
    (decision,) = Delivery.objects.filter(kind=DeliveryKind.REHOST_DECISION)
    assert decision.recipient == user.email and decision.language == "de"
    message = written(decision)
    assert "SN-NEW" in message.subject and "Replaced under warranty" in message.body
    assert "genehmigt" in message.body
    with pytest.raises(Rejected, match="approved already"):
        rehost_request_approve(request_id=request.pk, actor=staff)
    with pytest.raises(Rejected, match="approved already"):
        rehost_request_deny(request_id=request.pk, actor=staff, note="no")


def test_a_denied_request_leaves_the_device_and_tells_the_requester(owned, anna):
    request = _ask(owned, anna.user)
    before = list(Activation.objects.values_list("pk", "revoked_at"))

    with pytest.raises(Rejected, match="note: say why"):
        rehost_request_deny(request_id=request.pk, actor=CARE, note="  ")
    rehost_request_deny(request_id=request.pk, actor=CARE, note="No RMA number on file")

    request.refresh_from_db()
    assert request.status == RehostRequestStatus.DENIED and request.decided_by is None
    assert list(Activation.objects.values_list("pk", "revoked_at")) == before
    assert not EntitlementChange.objects.filter(kind="rehosted").exists()
    (decision,) = Delivery.objects.filter(kind=DeliveryKind.REHOST_DECISION)
    assert "No RMA number on file" in written(decision).body


def test_a_second_request_for_the_device_is_refused_and_so_is_a_direct_rehost(owned, anna):
    _ask(owned, anna.user)
    before = snapshot()

    with pytest.raises(Rejected, match="waits for Customer Care already"):
        _ask(owned, anna.user, serial="SN-OTHER")
    with pytest.raises(Rejected, match="approve or deny it instead"):
        activation_rehost(
            activation_id=old_activation(owned).pk,
            new_serial_number="SN-OTHER",
            reason="direct",
            actor=CARE,
        )

    assert snapshot() == before


def test_an_approval_that_no_longer_applies_is_refused_and_leaves_the_request_pending(owned, anna):
    request = _ask(owned, anna.user)
    _suspend(owned)
    before = snapshot()

    with pytest.raises(Rejected, match="is suspended"):
        rehost_request_approve(request_id=request.pk, actor=CARE)

    assert snapshot() == before
    request.refresh_from_db()
    assert request.status == RehostRequestStatus.PENDING


def test_a_stranger_cannot_request_a_rehost_of_someone_elses_activation(owned, stranger):
    user, _theirs = stranger
    before = snapshot()

    with pytest.raises(Rejected, match="No such activation"):
        _ask(owned, user)

    assert snapshot() == before


# The portal -------------------------------------------------------------------------------


def _portal(user):
    client = Client()
    client.force_login(user)
    return client


def _request_url(entitlement, activation):
    return reverse("portal:rehost-request", args=[entitlement.ssrn, activation.pk])


def test_the_owner_requests_a_replacement_in_the_portal_and_sees_its_outcome(owned, anna):
    client = _portal(anna.user)
    page = client.get(reverse("portal:entitlement", args=[owned.ssrn])).content.decode()
    assert page.count("Request a replacement (RMA)") == 2  # one per live device
    old = old_activation(owned)

    response = client.post(
        _request_url(owned, old), {"new_serial_number": "sn-new", "reason": "RMA 4711"}
    )

    assert response.status_code == 302
    request = RehostRequest.objects.get()
    assert (request.activation, request.new_serial_number) == (old, "SN-NEW")
    assert request.requested_by == anna.user and request.language == "de"
    page = client.get(response.url).content.decode()
    assert "Replacement requested: waiting for Customer Care" in page
    assert "Waiting for Customer Care" in page

    rehost_request_approve(request_id=request.pk, actor=CARE)
    page = client.get(response.url).content.decode()
    assert "Moved to SN-NEW on" in page and "replaces SN-OLD" in page
    assert "Approved on" in page


@pytest.mark.parametrize(
    ("posted", "says"),
    [
        ({"new_serial_number": "SN-2", "reason": "RMA"}, "is already activated on"),
        ({"new_serial_number": "A" * 10_000, "reason": "RMA"}, "at most 200 characters"),
        ({"new_serial_number": "SN-NEW", "reason": "x" * 10_000}, "at most 200 characters"),
        ({"new_serial_number": "<script>", "reason": "RMA"}, "is not a serial number"),
    ],
)
def test_a_bad_request_in_the_portal_answers_with_the_form_and_its_error(owned, anna, posted, says):
    client = _portal(anna.user)
    before = snapshot()

    response = client.post(_request_url(owned, old_activation(owned)), posted)

    assert response.status_code == 400
    assert says in response.content.decode()
    assert "<script>" not in response.content.decode()
    assert snapshot() == before


def test_a_stranger_gets_404_for_a_foreign_activation_or_a_foreign_ssrn(owned, stranger):
    user, theirs = stranger
    client = _portal(user)
    old = old_activation(owned)
    their_activation = theirs.activations.get()
    before = snapshot()

    foreign_ssrn = client.post(
        _request_url(owned, old), {"new_serial_number": "SN-NEW", "reason": "mine now"}
    )
    # Their own SSRN with someone else's activation id.
    foreign_id = client.post(
        reverse("portal:rehost-request", args=[theirs.ssrn, old.pk]),
        {"new_serial_number": "SN-NEW", "reason": "mine now"},
    )
    own = client.post(
        _request_url(theirs, their_activation), {"new_serial_number": "SN-X", "reason": "ok"}
    )

    assert foreign_ssrn.status_code == 404 and foreign_id.status_code == 404
    assert own.status_code == 302  # their own device: filed
    assert RehostRequest.objects.get().activation == their_activation
    assert snapshot()[0] == before[0]


def test_the_portal_offers_no_replacement_for_a_suspended_entitlement(owned, anna):
    _suspend(owned)
    client = _portal(anna.user)

    page = client.get(reverse("portal:entitlement", args=[owned.ssrn])).content.decode()
    refused = client.post(
        _request_url(owned, old_activation(owned)),
        {"new_serial_number": "SN-NEW", "reason": "RMA"},
    )

    assert "Request a replacement (RMA)" not in page
    assert refused.status_code == 400 and "is suspended" in refused.content.decode()
    assert not RehostRequest.objects.exists()


# The admin --------------------------------------------------------------------------------


def _staff(role):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return _portal(user), user


def _decide(client, request, action, note=""):
    url = reverse("admin:entitlements_rehostrequest_changelist")
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [request.pk], "index": 0}
    asked = client.post(url, data)
    done = client.post(url, {**data, "confirm": "yes", "reason": note})
    return asked, done


def test_customer_care_approves_a_request_after_a_preview(owned, anna):
    request = _ask(owned, anna.user)
    care, user = _staff(CUSTOMER_CARE)

    listed = care.get(reverse("admin:entitlements_rehostrequest_changelist")).content.decode()
    asked, done = _decide(care, request, "approve")

    assert "SN-OLD" in listed and "SN-NEW" in listed
    preview = asked.content.decode()
    assert asked.status_code == 200 and 'name="confirm"' in preview
    assert "SN-OLD" in preview and "SN-NEW" in preview
    assert "seats in use unchanged (2 of 2)" in preview
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == RehostRequestStatus.APPROVED and request.decided_by == user
    assert live_serials(owned) == ["SN-2", "SN-NEW"]


def test_customer_care_denies_a_request_with_a_note(owned, anna):
    request = _ask(owned, anna.user)
    care, _user = _staff(CUSTOMER_CARE)

    _asked, without_note = _decide(care, request, "deny", note="")
    _asked, done = _decide(care, request, "deny", note="Send the RMA number first")

    assert without_note.status_code == 200 and "Please give a note" in (
        without_note.content.decode()
    )
    assert done.status_code == 302
    request.refresh_from_db()
    assert request.status == RehostRequestStatus.DENIED
    assert request.decision_note == "Send the RMA number first"


def test_customer_care_rehosts_directly_from_the_activation(owned):
    care, user = _staff(CUSTOMER_CARE)
    old = old_activation(owned)
    changelist = reverse("admin:entitlements_activation_changelist")
    url = reverse("admin:entitlements_activation_rehost", args=[old.pk])

    started = care.post(
        changelist, {"action": "rehost", helpers.ACTION_CHECKBOX_NAME: [old.pk], "index": 0}
    )
    preview = care.post(url, {"new_serial_number": "sn-new", "reason": "RMA 9"})
    done = care.post(url, {"new_serial_number": "sn-new", "reason": "RMA 9", "confirm": "yes"})

    assert started.status_code == 302 and started.url == url
    text = preview.content.decode()
    assert "end the activation of SN-OLD" in text and "activate SN-NEW" in text
    assert "leave the seats in use unchanged: 2 of 2" in text
    assert done.status_code == 302
    new = Activation.objects.get(serial_number="SN-NEW")
    assert done.url == reverse("admin:entitlements_activation_change", args=[new.pk])
    assert AuditEvent.objects.get(action="activation.rehosted").actor_id == user.pk
    page = care.get(done.url).content.decode()
    assert "SN-OLD" in page  # rehosted from


def test_customer_care_sees_a_refusal_on_the_rehost_page(owned):
    care, _user = _staff(CUSTOMER_CARE)
    url = reverse("admin:entitlements_activation_rehost", args=[old_activation(owned).pk])

    refused = care.post(url, {"new_serial_number": "SN-2", "reason": "x", "confirm": "yes"})

    assert refused.status_code == 200
    assert "is already activated on" in refused.content.decode()
    assert live_serials(owned) == ["SN-2", "SN-OLD"]


def test_operations_neither_sees_nor_decides_nor_rehosts(owned, anna):
    request = _ask(owned, anna.user)
    ops, _user = _staff(OPERATIONS)
    old = old_activation(owned)

    listed = ops.get(reverse("admin:entitlements_rehostrequest_changelist"))
    _asked, approved = _decide(ops, request, "approve")
    page = ops.get(reverse("admin:entitlements_activation_rehost", args=[old.pk]))
    posted = ops.post(
        reverse("admin:entitlements_activation_rehost", args=[old.pk]),
        {"new_serial_number": "SN-NEW", "reason": "x", "confirm": "yes"},
    )
    action = ops.post(
        reverse("admin:entitlements_activation_changelist"),
        {"action": "rehost", helpers.ACTION_CHECKBOX_NAME: [old.pk], "index": 0},
    )
    activation_page = ops.get(reverse("admin:entitlements_activation_change", args=[old.pk]))

    assert listed.status_code == 403 and approved.status_code == 403
    assert page.status_code == 403 and posted.status_code == 403
    assert action.status_code == 200  # the changelist again: no such action for them
    said = [str(m) for m in get_messages(action.wsgi_request)]
    assert not any("Give the serial number" in m for m in said)
    assert "Rehost to a replacement device" not in activation_page.content.decode()
    request.refresh_from_db()
    assert request.status == RehostRequestStatus.PENDING
    assert live_serials(owned) == ["SN-2", "SN-OLD"]


# Two approvals at once ------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_approvals_at_once_rehost_once():
    account = new_account()
    entitlement = entitlement_of(account, quantity=1)
    user = portal_contact(account).user
    (activation,) = activations_create(
        entitlement_id=entitlement.pk, serial_numbers=["SN-OLD"], actor=CARE
    )
    request = rehost_request_create(
        activation_id=activation.pk,
        new_serial_number="SN-NEW",
        reason="RMA",
        user=user,
        language="en",
    )
    start, outcomes = threading.Barrier(2), []

    def approve(name):
        try:
            start.wait(timeout=10)
            rehost_request_approve(request_id=request.pk, actor=Job(name))
            outcomes.append("approved")
        except Rejected as rejected:
            outcomes.append(rejected.errors[0])
        finally:
            connection.close()

    threads = [threading.Thread(target=approve, args=(f"agent {n}",)) for n in (1, 2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert outcomes.count("approved") == 1
    (refused,) = [outcome for outcome in outcomes if outcome != "approved"]
    assert "approved already" in refused
    assert Activation.objects.filter(serial_number="SN-NEW").count() == 1
    assert live_serials(entitlement) == ["SN-NEW"]
    assert EntitlementChange.objects.filter(kind="rehosted").count() == 1
    assert AuditEvent.objects.filter(action="activation.rehosted").count() == 1
    assert Delivery.objects.filter(kind=DeliveryKind.REHOST_DECISION).count() == 1


def test_a_request_of_someone_who_no_longer_sees_the_entitlement_is_not_approved(owned, anna):
    from apps.entitlements.transfers import entitlement_transfer

    request = _ask(owned, anna.user)
    buyer = new_account()
    entitlement_transfer(
        entitlement_id=owned.pk, account_ids=[buyer.account_id], reason="sold", actor=CARE
    )
    before = snapshot()

    with pytest.raises(Rejected, match="no longer sees"):
        rehost_request_approve(request_id=request.pk, actor=CARE)

    assert snapshot() == before
    assert live_serials(owned) == ["SN-2", "SN-OLD"]
    request.refresh_from_db()
    assert request.status == RehostRequestStatus.PENDING
    rehost_request_deny(request_id=request.pk, actor=CARE, note="The plant was sold")
    request.refresh_from_db()
    assert request.status == RehostRequestStatus.DENIED
