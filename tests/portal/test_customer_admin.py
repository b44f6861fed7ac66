"""The customer admin's page in the portal: who gets it, what it shows (only the accounts
they administer), what its buttons do, and forged posts for other accounts."""

import pytest
from django.core import mail
from django.urls import reverse

from apps.accounts.models import AccessRequest, AccessRequestStatus, AccountAssociation
from apps.core.models import AuditEvent
from tests.portal.helpers import customer_admin_of, new_account, pending_request, portal_contact

pytestmark = pytest.mark.django_db
PAGE = reverse("portal:customer-admin")


def _decide(client, request, decision, note=""):
    url = reverse("portal:customer-admin-decide", args=[request.pk])
    return client.post(url, {"decision": decision, "note": note})


def _remove(client, association):
    return client.post(reverse("portal:customer-admin-remove", args=[association.pk]))


@pytest.fixture
def northwind_and_elsewhere():
    """Alice administers Northwind; another account has its own admin, contacts and request."""
    northwind = new_account(name="Northwind Networks")
    elsewhere = new_account(name="Elsewhere Holdings")
    alice = customer_admin_of(northwind, email="alice@northwind.example")
    dana = portal_contact(northwind, elsewhere, email="dana@northwind.example")
    bob = portal_contact(email="bob@blueharbor.example")
    mine = pending_request(northwind, contact=bob, reason="Blue Harbor runs their firewalls")
    zed = customer_admin_of(elsewhere, email="zed@elsewhere.example")
    eve = portal_contact(elsewhere, email="eve@elsewhere.example")
    theirs = pending_request(
        elsewhere, contact=portal_contact(email="mallory@rival.example"), reason="rival reason"
    )
    return locals()


FOREIGN = [
    "Elsewhere Holdings",
    "zed@elsewhere.example",
    "eve@elsewhere.example",
    "mallory@rival.example",
    "rival reason",
]


def test_the_admin_sees_the_pending_requests_and_contacts_of_their_account_only(
    client, northwind_and_elsewhere
):
    given = northwind_and_elsewhere
    client.force_login(given["alice"].user)

    page = client.get(PAGE)

    assert page.status_code == 200
    text = page.content.decode()
    (item,) = page.context["accounts"]
    assert item.account == given["northwind"]
    assert item.pending == [given["mine"]]
    assert [a.contact for a in item.associations] == [given["alice"], given["dana"]]
    assert "Blue Harbor runs their firewalls" in text and "bob@blueharbor.example" in text
    assert "dana@northwind.example" in text
    # Dana also sees Elsewhere: nothing of it shows here, nor anything else of Elsewhere.
    for foreign in [*FOREIGN, given["elsewhere"].account_id]:
        assert foreign not in text, foreign
    assert f'href="{PAGE}"' in text  # the navigation links to it


def test_a_contact_who_administers_nothing_gets_no_page_and_no_link(
    client, northwind_and_elsewhere
):
    client.force_login(northwind_and_elsewhere["dana"].user)

    assert client.get(PAGE).status_code == 404
    entitlements = client.get(reverse("portal:entitlements")).content.decode()
    assert PAGE not in entitlements
    assert _decide(client, northwind_and_elsewhere["mine"], "approve").status_code == 404
    dana_association = northwind_and_elsewhere["alice"].associations.get()
    assert _remove(client, dana_association).status_code == 404
    northwind_and_elsewhere["mine"].refresh_from_db()
    assert northwind_and_elsewhere["mine"].status == AccessRequestStatus.PENDING


def test_approving_from_the_page_associates_tells_the_contact_and_audits_the_admin(
    client, northwind_and_elsewhere, django_capture_on_commit_callbacks
):
    given = northwind_and_elsewhere
    client.force_login(given["alice"].user)

    with django_capture_on_commit_callbacks(execute=True):
        response = _decide(client, given["mine"], "approve", note="Welcome aboard")

    assert response.status_code == 302
    page = client.get(response.url).content.decode()
    assert "Approved: bob@blueharbor.example now sees account" in page
    assert AccountAssociation.objects.filter(
        contact=given["bob"], account=given["northwind"]
    ).exists()
    event = AuditEvent.objects.get(action="access_request.approved")
    assert (event.actor, event.actor_kind) == (given["alice"].user, "user")
    assert [m.to for m in mail.outbox] == [["bob@blueharbor.example"]]
    assert "Blue Harbor runs their firewalls" not in page  # no longer waiting


def test_denying_from_the_page_keeps_the_note(client, northwind_and_elsewhere):
    given = northwind_and_elsewhere
    client.force_login(given["alice"].user)

    _decide(client, given["mine"], "deny", note="Ask your manager")

    given["mine"].refresh_from_db()
    assert (given["mine"].status, given["mine"].decision_note) == ("denied", "Ask your manager")


def test_a_forged_post_for_another_account_s_request_answers_404_and_decides_nothing(
    client, northwind_and_elsewhere
):
    given = northwind_and_elsewhere
    client.force_login(given["alice"].user)

    for request_id in (given["theirs"].pk, 10**6, 2**70):
        url = reverse("portal:customer-admin-decide", args=[request_id])
        response = client.post(url, {"decision": "approve"})
        assert response.status_code == 404
        assert not any(f in response.content.decode() for f in FOREIGN)
    given["theirs"].refresh_from_db()
    assert given["theirs"].status == AccessRequestStatus.PENDING
    assert not AuditEvent.objects.filter(action__startswith="access_request.").exists()


def test_a_forged_removal_on_another_account_answers_404(client, northwind_and_elsewhere):
    given = northwind_and_elsewhere
    client.force_login(given["alice"].user)
    theirs = given["dana"].associations.get(account=given["elsewhere"])

    assert _remove(client, theirs).status_code == 404
    assert _remove(client, given["eve"].associations.get()).status_code == 404
    assert given["dana"].associations.count() == 2


def test_the_admin_removes_a_contact_but_not_another_admin_nor_their_own_last(
    client, northwind_and_elsewhere
):
    given = northwind_and_elsewhere
    carol = customer_admin_of(given["northwind"], email="carol@northwind.example")
    client.force_login(given["alice"].user)

    removed = _remove(client, given["dana"].associations.get(account=given["northwind"]))
    page = client.get(removed.url).content.decode()
    assert "dana@northwind.example no longer sees account" in page
    assert list(given["dana"].associations.values_list("account", flat=True)) == [
        given["elsewhere"].pk
    ]

    refused = _remove(client, carol.associations.get())
    assert "only Customer Care can remove them" in client.get(refused.url).content.decode()
    refused = _remove(client, given["alice"].associations.get())
    assert "ask Customer Care to remove you" in client.get(refused.url).content.decode()
    assert carol.associations.exists() and given["alice"].associations.exists()


def test_a_bad_decision_says_what_is_wrong_and_writes_nothing(client, northwind_and_elsewhere):
    given = northwind_and_elsewhere
    client.force_login(given["alice"].user)

    for data in ({"decision": "promote"}, {"decision": "deny", "note": "x" * 501}):
        url = reverse("portal:customer-admin-decide", args=[given["mine"].pk])
        response = client.post(url, data, follow=True)
        assert response.status_code == 200
        assert response.context["messages"], data
    given["mine"].refresh_from_db()
    assert given["mine"].status == AccessRequestStatus.PENDING


def test_no_portal_page_makes_anyone_admin(client, northwind_and_elsewhere):
    given = northwind_and_elsewhere
    client.force_login(given["dana"].user)
    association = given["dana"].associations.get(account=given["northwind"])

    client.post(PAGE, {"is_admin": "on"})
    client.post(reverse("portal:access"), {"account_id": given["northwind"].account_id})

    association.refresh_from_db()
    assert not association.is_admin


def test_the_page_s_queries_do_not_grow_with_its_rows(client, django_assert_num_queries):
    accounts = [new_account(), new_account()]
    alice = customer_admin_of(*accounts)
    for account in accounts:
        pending_request(account)
        portal_contact(account)
    client.force_login(alice.user)

    # The request's savepoint and its release, the session and its user, the accounts, their
    # requests, their contacts, and the navigation's question.
    with django_assert_num_queries(8) as few:
        assert client.get(PAGE).status_code == 200
    for account in [*accounts, new_account()]:
        for _ in range(5):
            pending_request(account)
            portal_contact(account)
    AccountAssociation.objects.filter(contact=alice).update(is_admin=True)
    customer_admin_of(accounts[0])
    with django_assert_num_queries(len(few.captured_queries)):
        client.get(PAGE)


def test_a_deciding_post_s_queries_are_pinned(client, django_assert_num_queries):
    account = new_account()
    alice = customer_admin_of(account)
    request = pending_request(account)
    client.force_login(alice.user)

    # 18, and the decision's email on the outbox: one row.
    with django_assert_num_queries(19):
        _decide(client, request, "deny")

    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequestStatus.DENIED
