"""Who sees what: access requests, associations taking effect at once, and the admin's
explanation of why a contact sees an entitlement or not."""

import datetime

import pytest
import time_machine
from django.core import mail
from django.urls import reverse
from django.utils import timezone

from apps.accounts.models import AccessRequest, AccessRequestStatus, AccountAssociation
from apps.accounts.services import access_requests_decide
from apps.fulfillment.tasks import queued_work_rescue_task
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from apps.outbox.services import deliveries_send
from tests.factories.accounts import UserFactory
from tests.factories.entitlements import ActivationFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db
ACCESS = reverse("portal:access")


def _ask(client, account_id, reason="I run their firewalls."):
    return client.post(ACCESS, {"account_id": account_id, "reason": reason})


def test_a_request_approved_in_bulk_associates_and_tells_each_contact(
    client, admin_client, django_capture_on_commit_callbacks
):
    # Given two contacts who each ask for an account they miss
    account = new_account(name="Northwind Networks")
    entitlement = entitlement_of(account)
    contacts = [portal_contact(), portal_contact()]
    for contact in contacts:
        client.force_login(contact.user)
        assert _ask(client, account.account_id).status_code == 302
    assert "Pending" in client.get(ACCESS).content.decode()

    # When Customer Care approves both at once
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:accounts_accessrequest_changelist"),
            {
                "action": "approve",
                "_selected_action": AccessRequest.objects.values_list("pk", flat=True),
            },
        )

    # Then each is associated, sees the entitlement and got an email
    assert AccountAssociation.objects.filter(account=account).count() == 2
    page = client.get(reverse("portal:entitlements")).content.decode()
    assert entitlement.ssrn in page
    assert sorted(m.to[0] for m in mail.outbox) == sorted(c.user.email for c in contacts)
    assert "You now see the licenses of account" in mail.outbox[0].subject


def test_a_denied_request_tells_the_contact_why_and_associates_nothing(
    client, admin_client, django_capture_on_commit_callbacks
):
    account = new_account()
    contact = portal_contact()
    client.force_login(contact.user)
    _ask(client, account.account_id)
    request = AccessRequest.objects.get()

    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:accounts_accessrequest_changelist"),
            {
                "action": "deny",
                "_selected_action": [request.pk],
                "confirm": "1",
                "reason": "Ask your manager to write to Customer Care.",
            },
        )

    request.refresh_from_db()
    assert request.status == AccessRequestStatus.DENIED
    assert not AccountAssociation.objects.exists()
    (message,) = mail.outbox
    assert "Ask your manager to write to Customer Care." in message.body
    assert "Ask your manager" in client.get(ACCESS).content.decode()


def test_a_second_decision_on_the_same_request_tells_nobody_twice(
    admin_client, client, django_capture_on_commit_callbacks
):
    contact = portal_contact()
    client.force_login(contact.user)
    _ask(client, new_account().account_id)
    ids = list(AccessRequest.objects.values_list("pk", flat=True))
    changelist = reverse("admin:accounts_accessrequest_changelist")

    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            admin_client.post(changelist, {"action": "approve", "_selected_action": ids})

    assert len(mail.outbox) == 1


def test_bad_requests_say_what_is_wrong_and_write_nothing(client):
    mine = new_account()
    client.force_login(portal_contact(mine).user)

    assert "already see the entitlements of" in _ask(client, mine.account_id).content.decode()
    assert "4 to 20 digits" in _ask(client, "12ab").content.decode()
    assert not AccessRequest.objects.exists()


def test_asking_twice_keeps_one_pending_request(client):
    account = new_account()
    client.force_login(portal_contact().user)
    _ask(client, account.account_id)
    _ask(client, account.account_id)
    assert AccessRequest.objects.count() == 1


def test_a_removed_association_takes_effect_on_the_next_request(client):
    # Given a user who sees an activated entitlement
    account = new_account()
    contact = portal_contact(account)
    entitlement = entitlement_of(account)
    ActivationFactory(entitlement=entitlement)
    client.force_login(contact.user)
    urls = [
        reverse(name, args=[entitlement.ssrn])
        for name in ("portal:entitlement", "portal:certificate", "portal:keys")
    ]
    assert [client.get(url).status_code for url in urls] == [200, 200, 200]

    # When Customer Care removes the association
    AccountAssociation.objects.filter(contact=contact).delete()

    # Then every page and download of it answers 404, and the list no longer shows it
    assert [client.get(url).status_code for url in urls] == [404, 404, 404]
    assert entitlement.ssrn not in client.get(reverse("portal:entitlements")).content.decode()
    activate = client.post(
        reverse("portal:activate", args=[entitlement.ssrn]), {"serial_numbers": "SN-1"}
    )
    assert activate.status_code == 404


def test_the_admin_explains_why_a_contact_sees_an_entitlement_or_not(admin_client):
    northwind, partner = new_account(name="Northwind"), new_account(name="Blue Harbor")
    entitlement = entitlement_of(northwind, partner)
    seer = portal_contact(partner, email="pat@blueharbor.example")
    outsider = portal_contact(new_account(), email="sam@elsewhere.example")
    url = reverse("admin:visibility")

    seen = admin_client.get(url, {"contact": seer.user.email, "ssrn": entitlement.ssrn})
    unseen = admin_client.get(url, {"contact": outsider.contact_id, "ssrn": entitlement.ssrn})

    assert seen.context["explanation"].visible
    assert [row[0] for row in seen.context["explanation"].shared] == [partner]
    assert f"pat@blueharbor.example sees {entitlement.ssrn}" in seen.content.decode()
    assert not unseen.context["explanation"].visible
    assert f"sam@elsewhere.example does not see {entitlement.ssrn}" in unseen.content.decode()
    assert {row[0] for row in unseen.context["explanation"].missing} == {northwind, partner}


def test_a_decision_whose_email_was_lost_is_sent_by_the_rescuer_once(
    client, admin_client, smtp, settings
):
    # Given a decision whose email task never ran (a lost message)
    contact = portal_contact()
    client.force_login(contact.user)
    _ask(client, new_account().account_id)
    request = AccessRequest.objects.get()
    admin_client.post(
        reverse("admin:accounts_accessrequest_changelist"),
        {"action": "approve", "_selected_action": [request.pk]},
    )  # on-commit callbacks do not run here: the message is lost
    assert smtp.messages == []

    # When the rescuer looks before and after the decision's grace period
    queued_work_rescue_task()
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=3)):
        queued_work_rescue_task()
        queued_work_rescue_task()

    # Then the contact is told exactly once
    assert [m["To"] for m in smtp.messages] == [contact.user.email]
    assert _decision_email(request).status == DeliveryStatus.SENT


def test_a_failed_decision_email_is_counted_and_tried_again_later(client, smtp, settings):
    contact = portal_contact()
    client.force_login(contact.user)
    _ask(client, new_account().account_id)
    request = AccessRequest.objects.get()
    port, settings.EMAIL_PORT = settings.EMAIL_PORT, _closed_port()
    access_requests_decide(
        request_ids=[request.pk], approve=False, actor=UserFactory(is_staff=True), note="no"
    )

    deliveries_send(delivery_ids=[_decision_email(request).pk])  # the mail server is away

    delivery = _decision_email(request)
    assert (delivery.status, delivery.attempts) == (DeliveryStatus.RETRY, 1)
    settings.EMAIL_PORT = port
    with time_machine.travel(delivery.next_attempt_at + datetime.timedelta(seconds=1)):
        queued_work_rescue_task()
    assert _decision_email(request).status == DeliveryStatus.SENT
    assert [m["To"] for m in smtp.messages] == [contact.user.email]


def _decision_email(request: AccessRequest) -> Delivery:
    return Delivery.objects.get(
        kind=DeliveryKind.ACCESS_DECISION, topic=f"access_request:{request.pk}"
    )


def _closed_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]
