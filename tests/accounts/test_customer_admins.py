"""Customer admins' services: what they may decide and remove, what they are refused (and
then nothing is written), the audit trail, and Customer Care setting the role and
overruling a decision in the admin."""

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.test import Client
from django.urls import reverse

from apps.accounts.customer_admins import (
    access_requests_decide_as_customer_admin,
    access_requests_overrule,
    account_association_remove_as_customer_admin,
)
from apps.accounts.models import AccessRequest, AccessRequestStatus, AccountAssociation
from apps.accounts.services import account_association_save
from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from tests.factories.accounts import UserFactory
from tests.portal.helpers import customer_admin_of, new_account, pending_request, portal_contact

pytestmark = pytest.mark.django_db


def _written():
    """What a refusal must leave as it was."""
    return (
        AuditEvent.objects.count(),
        sorted(AccessRequest.objects.values_list("pk", "status", "decided_by")),
        sorted(AccountAssociation.objects.values_list("pk", "is_admin")),
    )


# Deciding -------------------------------------------------------------------------------


def test_a_customer_admin_approves_a_request_for_their_account_audited_as_themselves(
    django_capture_on_commit_callbacks,
):
    northwind = new_account()
    alice = customer_admin_of(northwind)
    request = pending_request(northwind)

    with django_capture_on_commit_callbacks(execute=True):
        decided = access_requests_decide_as_customer_admin(
            request_ids=[request.pk], approve=True, note="Welcome", actor=alice.user
        )

    assert decided == 1
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.APPROVED
    assert (request.decided_by, request.decided_by_customer_admin) == (alice.user, True)
    assert AccountAssociation.objects.filter(contact=request.contact, account=northwind).exists()
    event = AuditEvent.objects.get(action="access_request.approved")
    assert (event.actor, event.actor_kind, event.message) == (alice.user, "user", "Welcome")
    (message,) = mail.outbox
    assert message.to == [request.contact.email]
    # The contact learns who decided: their organisation, not Customer Care.
    assert "An administrator of account" in message.body
    assert "Customer Care approved" not in message.body


def test_a_customer_admin_denies_and_nothing_is_associated(django_capture_on_commit_callbacks):
    northwind = new_account()
    alice = customer_admin_of(northwind)
    request = pending_request(northwind)

    with django_capture_on_commit_callbacks(execute=True):
        access_requests_decide_as_customer_admin(
            request_ids=[request.pk], approve=False, note="Not one of ours", actor=alice.user
        )

    request.refresh_from_db()
    assert (request.status, request.decision_note) == ("denied", "Not one of ours")
    assert not AccountAssociation.objects.filter(contact=request.contact).exists()
    assert "Not one of ours" in mail.outbox[0].body


@pytest.mark.parametrize(
    "who",
    ["admin of another account", "plain contact of the account", "former admin", "staff"],
)
def test_who_is_not_admin_of_the_request_s_account_is_refused_and_nothing_is_written(who):
    northwind, elsewhere = new_account(), new_account()
    request = pending_request(northwind)
    actor = {
        "admin of another account": lambda: customer_admin_of(elsewhere).user,
        "plain contact of the account": lambda: portal_contact(northwind).user,
        "former admin": lambda: _former_admin(northwind).user,
        "staff": lambda: UserFactory(is_staff=True, is_superuser=True),
    }[who]()
    before = _written()

    with pytest.raises(Rejected, match=f"Access request {request.pk} is not one you can decide"):
        access_requests_decide_as_customer_admin(
            request_ids=[request.pk], approve=True, actor=actor
        )

    assert _written() == before


def _former_admin(account):
    contact = customer_admin_of(account)
    association = contact.associations.get()
    account_association_save(
        contact=contact,
        account=account,
        note="",
        association=association,
        is_admin=False,
        actor=UserFactory(is_staff=True),
    )
    return contact


def test_one_foreign_request_among_several_refuses_them_all():
    northwind, elsewhere = new_account(), new_account()
    alice = customer_admin_of(northwind)
    mine, foreign = pending_request(northwind), pending_request(elsewhere)
    before = _written()

    with pytest.raises(Rejected) as refused:
        access_requests_decide_as_customer_admin(
            request_ids=[mine.pk, foreign.pk], approve=True, actor=alice.user
        )

    assert refused.value.errors == [f"Access request {foreign.pk} is not one you can decide."]
    assert _written() == before


def test_a_request_decided_already_or_unknown_is_refused():
    northwind = new_account()
    alice = customer_admin_of(northwind)
    request = pending_request(northwind)
    access_requests_decide_as_customer_admin(
        request_ids=[request.pk], approve=False, actor=alice.user
    )
    before = _written()

    with pytest.raises(Rejected, match="was decided already"):
        access_requests_decide_as_customer_admin(
            request_ids=[request.pk], approve=True, actor=alice.user
        )
    with pytest.raises(Rejected, match="not one you can decide"):
        access_requests_decide_as_customer_admin(
            request_ids=[request.pk + 1000], approve=True, actor=alice.user
        )
    with pytest.raises(Rejected, match="No access request"):
        access_requests_decide_as_customer_admin(request_ids=[], approve=True, actor=alice.user)
    assert _written() == before


def test_a_bad_note_is_refused_with_what_is_wrong():
    northwind = new_account()
    alice = customer_admin_of(northwind)
    request = pending_request(northwind)

    with pytest.raises(Rejected, match="note: at most 500 characters"):
        access_requests_decide_as_customer_admin(
            request_ids=[request.pk], approve=False, note="x" * 501, actor=alice.user
        )
    with pytest.raises(Rejected, match="note: control characters"):
        access_requests_decide_as_customer_admin(
            request_ids=[request.pk], approve=False, note="a\x00b", actor=alice.user
        )
    request.refresh_from_db()
    assert request.status == AccessRequestStatus.PENDING


def test_a_request_kept_without_account_is_the_admin_s_once_the_account_exists():
    from apps.accounts.models import AccessRequest as Request

    asked = Request.objects.create(
        contact=portal_contact(), requested_account_id="0177700001", reason="ours"
    )
    northwind = new_account(account_id="0177700001")
    alice = customer_admin_of(northwind)

    access_requests_decide_as_customer_admin(request_ids=[asked.pk], approve=True, actor=alice.user)

    asked.refresh_from_db()
    assert (asked.status, asked.account) == ("approved", northwind)


# Removing -------------------------------------------------------------------------------


def test_a_customer_admin_removes_a_contact_from_their_account_audited():
    northwind, other = new_account(), new_account()
    alice = customer_admin_of(northwind)
    bob = portal_contact(northwind, other)
    association = bob.associations.get(account=northwind)

    account_association_remove_as_customer_admin(association_id=association.pk, actor=alice.user)

    assert list(bob.associations.values_list("account", flat=True)) == [other.pk]
    event = AuditEvent.objects.get(action="account_association.deleted")
    assert (event.actor, event.actor_kind) == (alice.user, "user")
    assert event.data["email"] == bob.email


def test_refused_removals_write_nothing():
    northwind, elsewhere = new_account(), new_account()
    alice = customer_admin_of(northwind)
    carol = customer_admin_of(northwind)
    stranger = portal_contact(elsewhere)
    before = _written()

    for association, words in [
        (carol.associations.get(), "is a customer admin of account"),
        (alice.associations.get(), "last one you are customer admin of"),
        (stranger.associations.get(), "not one you can remove"),
    ]:
        with pytest.raises(Rejected, match=words):
            account_association_remove_as_customer_admin(
                association_id=association.pk, actor=alice.user
            )
    assert _written() == before


def test_an_admin_of_two_accounts_may_leave_one_of_them():
    northwind, lakeside = new_account(), new_account()
    alice = customer_admin_of(northwind, lakeside)

    account_association_remove_as_customer_admin(
        association_id=alice.associations.get(account=lakeside).pk, actor=alice.user
    )

    assert list(alice.associations.values_list("account", flat=True)) == [northwind.pk]


# Customer Care in the admin -------------------------------------------------------------


def _staff(role):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return user, client


def test_customer_care_makes_a_contact_admin_audited_with_old_and_new():
    care, client = _staff(CUSTOMER_CARE)
    association = portal_contact(new_account()).associations.get()
    url = reverse("admin:accounts_accountassociation_change", args=[association.pk])

    response = client.post(
        url,
        {
            "contact": association.contact_id,
            "account": association.account_id,
            "note": "",
            "is_admin": "on",
        },
    )

    assert response.status_code == 302
    association.refresh_from_db()
    assert association.is_admin
    event = AuditEvent.objects.get(action="account_association.updated")
    assert event.actor == care
    assert event.data["changes"] == {"is_admin": {"old": False, "new": True}}


def test_the_contact_page_s_inline_sets_and_unsets_the_admin_role(admin_client):
    from tests.admin_forms import admin_form_data

    association = portal_contact(new_account()).associations.get()
    url = reverse("admin:accounts_contact_change", args=[association.contact_id])
    for flag in (True, False):
        data = admin_form_data(admin_client.get(url))
        key = next(k for k in data if k.endswith("-0-is_admin") or k.endswith("-0-note"))
        prefix = key.rsplit("-", 1)[0]
        data.pop(f"{prefix}-is_admin", None)
        if flag:
            data[f"{prefix}-is_admin"] = "on"
        assert admin_client.post(url, data).status_code == 302
        association.refresh_from_db()
        assert association.is_admin is flag
    changes = [
        e.data["changes"]["is_admin"]
        for e in AuditEvent.objects.filter(action="account_association.updated").order_by("pk")
    ]
    assert changes == [{"old": False, "new": True}, {"old": True, "new": False}]


def test_staff_without_the_association_change_permission_cannot_set_it():
    _ops, client = _staff(OPERATIONS)
    association = portal_contact(new_account()).associations.get()
    url = reverse("admin:accounts_accountassociation_change", args=[association.pk])

    response = client.post(
        url,
        {"contact": association.contact_id, "account": association.account_id, "is_admin": "on"},
    )

    assert response.status_code == 403
    association.refresh_from_db()
    assert not association.is_admin


def _overrule(client, request, reason="The partner contract ended."):
    # The changelist opens on the pending requests; the decided ones are under "All".
    return client.post(
        reverse("admin:accounts_accessrequest_changelist") + "?status=all",
        {
            "action": "overrule",
            "_selected_action": [request.pk],
            "confirm": "yes",
            "reason": reason,
        },
    )


def test_customer_care_overrules_a_customer_admin_s_approval(django_capture_on_commit_callbacks):
    northwind = new_account()
    alice = customer_admin_of(northwind)
    request = pending_request(northwind)
    access_requests_decide_as_customer_admin(
        request_ids=[request.pk], approve=True, actor=alice.user
    )
    care, client = _staff(CUSTOMER_CARE)

    with django_capture_on_commit_callbacks(execute=True):
        response = _overrule(client, request)

    assert response.status_code == 302
    request.refresh_from_db()
    assert (request.status, request.decided_by, request.decided_by_customer_admin) == (
        "denied",
        care,
        False,
    )
    assert not AccountAssociation.objects.filter(contact=request.contact).exists()
    event = AuditEvent.objects.get(action="access_request.overruled")
    assert (event.actor, event.message) == (care, "The partner contract ended.")
    assert event.data["status"] == {"old": "approved", "new": "denied"}
    assert event.data["decided_by_customer_admin"] == {"old": True, "new": False}
    assert event.data["association_removed"] is True
    assert AuditEvent.objects.filter(action="account_association.deleted", actor=care).exists()
    (message,) = mail.outbox
    assert "declined" in message.subject
    # The change page tells the story: the customer admin's approval, then the overrule.
    page = client.get(reverse("admin:accounts_accessrequest_change", args=[request.pk]))
    text = page.content.decode()
    assert f"approved &middot; {alice.user.name} (customer admin)" in text
    assert "overruled &middot;" in text and "The partner contract ended." in text


def test_customer_care_overrules_a_denial_which_approves_it(django_capture_on_commit_callbacks):
    northwind = new_account()
    alice = customer_admin_of(northwind)
    request = pending_request(northwind)
    access_requests_decide_as_customer_admin(
        request_ids=[request.pk], approve=False, actor=alice.user
    )

    access_requests_overrule(
        request_ids=[request.pk], reason="They are our partner.", actor=UserFactory(is_staff=True)
    )

    request.refresh_from_db()
    assert request.status == AccessRequestStatus.APPROVED
    assert AccountAssociation.objects.filter(contact=request.contact, account=northwind).exists()


def test_what_cannot_be_overruled_is_left_alone_with_why():
    northwind = new_account()
    pending = pending_request(northwind)
    care, client = _staff(CUSTOMER_CARE)

    response = _overrule(client, pending)

    pending.refresh_from_db()
    assert pending.status == AccessRequestStatus.PENDING
    assert not AuditEvent.objects.filter(action="access_request.overruled").exists()
    said = [str(m) for m in response.wsgi_request._messages]
    assert any("it is pending: approve or deny it" in m for m in said)
    with pytest.raises(Rejected, match="reason"):
        access_requests_overrule(request_ids=[pending.pk], reason=" ", actor=care)


def test_the_admin_list_shows_who_decided_and_whether_a_customer_admin(admin_client):
    northwind = new_account()
    alice = customer_admin_of(northwind, email="alice@northwind.example")
    request = pending_request(northwind)
    access_requests_decide_as_customer_admin(
        request_ids=[request.pk], approve=True, actor=alice.user
    )

    page = admin_client.get(
        reverse("admin:accounts_accessrequest_changelist"),
        {"decided_by_customer_admin__exact": "1", "status": "all"},
    )

    assert list(page.context["cl"].result_list) == [request]
    assert "alice@northwind.example" in page.content.decode()
