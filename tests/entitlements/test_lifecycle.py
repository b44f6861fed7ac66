"""Suspending, reinstating and revoking an entitlement: through the services, what the
customer's contacts, the change feed, the webhooks, the portal and the verify page see."""

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.actors import Job
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent
from apps.entitlements.activations import activations_create
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import Activation, Entitlement, EntitlementChange
from apps.outbox.kinds import email_kind
from apps.outbox.models import Channel, Delivery, DeliveryKind
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact
from tests.webhooks.conftest import endpoint_for

pytestmark = pytest.mark.django_db

CARE = Job("test")


@pytest.fixture
def owned():
    """An entitlement of two accounts: a German contact of the end customer, an English one
    of the partner, and a contact of another account who hears nothing."""
    end_customer, partner = new_account(), new_account()
    entitlement = entitlement_of(end_customer, partner, quantity=3)
    anna = portal_contact(end_customer, email="anna@northwind.example")
    anna.language = "de"
    anna.save()
    portal_contact(partner, email="bob@harbor.example")
    portal_contact(new_account(), email="stranger@elsewhere.example")
    return entitlement


def notices():
    return {
        d.recipient: d
        for d in Delivery.objects.filter(kind=DeliveryKind.LIFECYCLE_NOTICE).order_by("pk")
    }


def written(delivery):
    return email_kind(delivery.kind).writer([delivery])(delivery)


def nothing_written():
    return (
        not AuditEvent.objects.filter(action__startswith="entitlement.").exists()
        and not EntitlementChange.objects.exists()
        and not Delivery.objects.exists()
    )


def test_suspend_is_audited_fed_told_to_the_contacts_and_the_webhooks(owned):
    erp, _secret = endpoint_for("https://93.184.215.14/erp", events=["entitlement.suspended"])

    entitlement_suspend(entitlement_id=owned.pk, reason="Unpaid invoice 4711", actor=CARE)

    owned.refresh_from_db()
    assert owned.suspended_at and owned.suspend_reason == "Unpaid invoice 4711"
    assert owned.feed_status == "suspended"
    audit = AuditEvent.objects.get(action="entitlement.suspended")
    assert audit.actor_name == "test" and audit.message == "Unpaid invoice 4711"
    assert audit.data["reason"] == "Unpaid invoice 4711"
    assert audit.data["feed_status"] == {"old": "active", "new": "suspended"}
    assert audit.data["suspended_at"]["old"] is None
    change = EntitlementChange.objects.get(kind="suspended")
    assert change.status == "suspended" and change.data == {"reason": "Unpaid invoice 4711"}
    (event,) = Delivery.objects.filter(channel=Channel.WEBHOOK, endpoint=erp)
    assert event.payload["type"] == "entitlement.suspended"
    assert event.payload["data"]["ssrn"] == owned.ssrn
    assert event.payload["data"]["status"] == "suspended"
    sent = notices()
    assert sorted(sent) == ["anna@northwind.example", "bob@harbor.example"]
    german, english = written(sent["anna@northwind.example"]), written(sent["bob@harbor.example"])
    assert owned.ssrn in german.subject and "gesperrt" in german.subject
    assert "Unpaid invoice 4711" in german.body
    assert english.subject == f"Entitlement {owned.ssrn} is suspended"
    assert "no new device can be activated" in english.body
    assert owned.activation_code not in english.body


def test_reinstate_lifts_the_suspension_and_the_status_follows_the_dates(owned):
    entitlement_suspend(entitlement_id=owned.pk, reason="unpaid", actor=CARE)

    entitlement_reinstate(entitlement_id=owned.pk, reason="paid", actor=CARE)

    owned.refresh_from_db()
    assert owned.suspended_at is None and owned.feed_status == "active"
    audit = AuditEvent.objects.get(action="entitlement.reinstated")
    assert audit.data["feed_status"] == {"old": "suspended", "new": "active"}
    assert [c.kind for c in EntitlementChange.objects.order_by("pk")] == [
        "suspended",
        "reinstated",
    ]
    assert written(notices()["bob@harbor.example"]).subject.endswith("is reinstated")


def test_an_endpoint_subscribed_to_reinstated_receives_the_reinstatement(owned):
    erp, _secret = endpoint_for("https://93.184.215.14/erp", events=["entitlement.reinstated"])
    entitlement_suspend(entitlement_id=owned.pk, reason="unpaid", actor=CARE)

    entitlement_reinstate(entitlement_id=owned.pk, reason="Invoice paid", actor=CARE)

    (event,) = Delivery.objects.filter(channel=Channel.WEBHOOK, endpoint=erp)
    assert event.payload["type"] == "entitlement.reinstated"
    assert event.payload["data"]["ssrn"] == owned.ssrn
    assert event.payload["data"]["status"] == "active"
    assert event.payload["data"]["reason"] == "Invoice paid"


def test_revoke_ends_the_activations_for_good(owned):
    activations_create(entitlement_id=owned.pk, serial_numbers=["SN-1", "SN-2"], actor=CARE)
    erp, _secret = endpoint_for("https://93.184.215.14/erp", events=["entitlement.revoked"])

    entitlement_revoke(entitlement_id=owned.pk, reason="Contract cancelled", actor=CARE)

    owned.refresh_from_db()
    assert owned.revoked_at and owned.revoke_reason == "Contract cancelled"
    assert owned.feed_status == "revoked"
    assert not Activation.objects.filter(entitlement=owned, revoked_at__isnull=True).exists()
    assert set(Activation.objects.values_list("revoke_reason", flat=True)) == {"Contract cancelled"}
    (event,) = Delivery.objects.filter(channel=Channel.WEBHOOK, endpoint=erp)
    assert event.payload["type"] == "entitlement.revoked"
    assert written(notices()["bob@harbor.example"]).subject.endswith("is revoked")
    with pytest.raises(Rejected, match="revoking is final"):
        entitlement_revoke(entitlement_id=owned.pk, reason="again", actor=CARE)
    with pytest.raises(Rejected, match="only a suspended one is reinstated"):
        entitlement_reinstate(entitlement_id=owned.pk, reason="oops", actor=CARE)
    with pytest.raises(Rejected, match="revoked: it cannot be suspended"):
        entitlement_suspend(entitlement_id=owned.pk, reason="x", actor=CARE)


@pytest.mark.parametrize(
    ("service", "reason", "says"),
    [
        (entitlement_reinstate, "paid", "is active: only a suspended one is reinstated"),
        (entitlement_suspend, "   ", "reason: say why"),
        (entitlement_revoke, "", "reason: say why"),
        (entitlement_suspend, "x" * 201, "reason: at most 200 characters"),
    ],
)
def test_a_refused_action_writes_nothing_and_says_why(owned, service, reason, says):
    with pytest.raises(Rejected) as refused:
        service(entitlement_id=owned.pk, reason=reason, actor=CARE)

    assert says in refused.value.errors[0]
    assert nothing_written()
    owned.refresh_from_db()
    assert owned.suspended_at is None and owned.revoked_at is None


def test_a_suspended_entitlement_refuses_activations_and_keys_until_reinstated(client, owned):
    contact = portal_contact(owned.entitlement_accounts.first().account)
    client.force_login(contact.user)
    activate = reverse("portal:activate", args=[owned.ssrn])
    entitlement_suspend(entitlement_id=owned.pk, reason="unpaid", actor=CARE)

    page = client.get(reverse("portal:entitlement", args=[owned.ssrn]))
    refused = client.post(activate, {"serial_numbers": "SN-1"})
    with_code = Client()
    with_code.force_login(UserFactory())
    by_code = with_code.post(
        reverse("portal:activate-with-code"),
        {"activation_code": owned.activation_code, "serial_numbers": "SN-1"},
    )
    keys = client.get(reverse("portal:keys", args=[owned.ssrn]))
    emailed = client.post(reverse("portal:keys-email", args=[owned.ssrn]), follow=True)

    assert "Suspended" in page.content.decode()
    assert refused.status_code == 400
    assert "is suspended: no device can be activated until it is reinstated" in (
        refused.content.decode()
    )
    assert "is suspended: no device can be activated" in by_code.content.decode()
    assert keys.status_code == 403
    assert "suspended" in emailed.content.decode()
    assert not Delivery.objects.filter(kind=DeliveryKind.LICENSE_KEYS).exists()
    assert not Activation.objects.exists()

    entitlement_reinstate(entitlement_id=owned.pk, reason="paid", actor=CARE)
    allowed = client.post(activate, {"serial_numbers": "SN-1"})

    assert allowed.status_code == 200
    assert Activation.objects.filter(entitlement=owned, serial_number="SN-1").exists()


def test_the_verify_page_says_suspended_then_revoked(client, owned):
    url = reverse("entitlement-verify", args=[owned.ssrn])
    assert "suspended" not in client.get(url).content.decode()

    entitlement_suspend(entitlement_id=owned.pk, reason="unpaid", actor=CARE)
    suspended = client.get(url).content.decode()
    entitlement_revoke(entitlement_id=owned.pk, reason="never paid", actor=CARE)
    revoked = client.get(url).content.decode()

    assert "This entitlement is suspended" in suspended
    assert "This entitlement is revoked" in revoked and "suspended" not in revoked
    assert "unpaid" not in suspended and "never paid" not in revoked  # reasons stay private


def _staff(role):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client, user


def _admin_action(client, entitlement, action, reason="asked by the customer"):
    url = reverse("admin:entitlements_entitlement_changelist")
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [entitlement.pk], "index": 0}
    asked = client.post(url, data)
    done = client.post(url, {**data, "confirm": "yes", "reason": reason})
    return asked, done


def test_customer_care_suspends_reinstates_and_revokes_in_the_admin(owned):
    care, user = _staff(CUSTOMER_CARE)

    asked, done = _admin_action(care, owned, "suspend", "unpaid invoice")
    assert asked.status_code == 200 and b'name="reason"' in asked.content
    assert done.status_code == 302
    owned.refresh_from_db()
    assert owned.suspend_reason == "unpaid invoice"
    audit = AuditEvent.objects.get(action="entitlement.suspended")
    assert audit.actor_id == user.pk
    listed = care.get(reverse("admin:entitlements_entitlement_changelist")).content.decode()
    assert "Suspended" in listed

    _admin_action(care, owned, "reinstate", "paid")
    _admin_action(care, owned, "revoke", "cancelled")
    _asked, again = _admin_action(care, owned, "revoke", "twice")

    owned.refresh_from_db()
    assert owned.suspended_at is None and owned.revoke_reason == "cancelled"
    said = [str(m) for m in get_messages(again.wsgi_request)]
    assert any("revoking is final" in message for message in said)
    assert AuditEvent.objects.filter(action="entitlement.revoked").count() == 1


def test_operations_is_not_offered_the_lifecycle_actions(owned):
    ops, _user = _staff(OPERATIONS)

    _asked, done = _admin_action(ops, owned, "revoke")

    owned.refresh_from_db()
    assert owned.revoked_at is None
    assert not Entitlement.objects.filter(revoked_at__isnull=False).exists()
    assert done.status_code in (200, 302)
