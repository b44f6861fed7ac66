"""A hard bounce, as Customer Care sees it: marked on the delivery list, the delivery's page
and the order page, with one link to a form that sends the message to another address."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus, TrackingStatus
from apps.outbox.services import delivery_resend
from apps.outbox.tracking import delivery_tracking_record
from tests.factories.accounts import UserFactory
from tests.outbox.conftest import ship_order
from tests.portal.helpers import portal_contact

pytestmark = pytest.mark.django_db

BOUNCE = "5.1.1 The email account that you tried to reach does not exist."
NEW = "it.desk@northwind.example"


@pytest.fixture
def bounced(django_capture_on_commit_callbacks, mailoutbox):
    with django_capture_on_commit_callbacks(execute=True):
        order = ship_order()
    delivery = Delivery.objects.get(kind=DeliveryKind.FULFILLMENT)
    assert delivery.status == DeliveryStatus.SENT
    delivery_tracking_record(
        esp_message_id=delivery.message_id,
        event_type="bounced",
        recipient=delivery.recipient,
        timestamp=timezone.now(),
        description=BOUNCE,
        actor=Job("mailgun_tracking_webhook"),
    )
    mailoutbox.clear()
    delivery.refresh_from_db()
    return delivery, order


def _staff(role: str) -> Client:
    if role == "superuser":
        user = UserFactory(is_staff=True, is_superuser=True)
    else:
        user = UserFactory(is_staff=True)
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def _form_url(delivery) -> str:
    return reverse("admin:outbox_delivery_send_elsewhere", args=[delivery.pk])


@pytest.mark.parametrize("role", [CUSTOMER_CARE, "superuser"])
def test_customer_care_sends_a_bounced_email_to_another_address(
    role, bounced, django_capture_on_commit_callbacks, mailoutbox
):
    delivery, order = bounced
    client = _staff(role)

    listing = client.get(reverse("admin:outbox_delivery_changelist")).content.decode()
    assert "⚠ Bounced" in listing and _form_url(delivery) in listing
    page = client.get(reverse("admin:outbox_delivery_change", args=[delivery.pk]))
    assert "Send to another address" in page.content.decode()
    assert _form_url(delivery) in page.content.decode()
    form = client.get(_form_url(delivery))
    assert form.status_code == 200
    assert BOUNCE in form.content.decode() and delivery.recipient in form.content.decode()

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            _form_url(delivery), {"recipient": f"  {NEW} ", "reason": "new address by phone"}
        )

    resend = Delivery.objects.get(resend_of=delivery)
    assert response.status_code == 302
    assert response["Location"] == reverse("admin:outbox_delivery_change", args=[resend.pk])
    assert (resend.recipient, resend.reason, resend.requested_by) == (
        NEW,
        "new address by phone",
        client.user,
    )
    assert resend.status == DeliveryStatus.SENT
    assert [message.to for message in mailoutbox] == [[NEW]]
    assert mailoutbox[0].subject  # the same Fulfillment Email, written again
    event = AuditEvent.objects.get(action="delivery.resent")
    assert event.actor == client.user and NEW in event.message
    followed = client.get(response["Location"])
    assert NEW in followed.content.decode()
    order_page = client.get(reverse("admin:orders_salesorder_change", args=[order.pk]))
    assert NEW in order_page.content.decode()


def _with_permissions(*codenames) -> Client:
    user = UserFactory(is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    return client


@pytest.mark.parametrize(
    "who",
    ["Operations", "may change deliveries, not see codes", "may only look at deliveries"],
)
def test_staff_who_may_not_read_codes_cannot_send_them_elsewhere(bounced, mailoutbox, who):
    # Operations retries and resends deliveries, but does not see activation codes: sending
    # a Fulfillment Email to an address of its own choosing would show them.
    delivery, _order = bounced
    client = {
        "Operations": lambda: _staff(OPERATIONS),
        "may change deliveries, not see codes": lambda: _with_permissions(
            "view_delivery", "change_delivery"
        ),
        "may only look at deliveries": lambda: _with_permissions(
            "view_delivery", "view_activation_code"
        ),
    }[who]()

    page = client.get(reverse("admin:outbox_delivery_change", args=[delivery.pk]))
    assert page.status_code == 200
    assert _form_url(delivery) not in page.content.decode()
    asked = client.get(_form_url(delivery))
    assert asked.status_code == 403
    assert "for staff who may see activation codes" in asked.content.decode()
    refused = client.post(_form_url(delivery), {"recipient": NEW, "reason": "try"})
    assert refused.status_code == 403
    assert not Delivery.objects.filter(resend_of=delivery).exists()
    assert mailoutbox == []


def test_staff_who_may_not_see_deliveries_see_nothing_of_it(bounced):
    delivery, _order = bounced
    client = _with_permissions("view_salesorder")
    response = client.get(_form_url(delivery))
    assert response.status_code == 403
    assert delivery.recipient not in response.content.decode()


def test_a_sign_in_link_never_goes_to_another_address(bounced):
    delivery, _order = bounced
    Delivery.objects.filter(pk=delivery.pk).update(kind=DeliveryKind.SIGN_IN_LINK)
    client = _staff(CUSTOMER_CARE)
    response = client.post(_form_url(delivery), {"recipient": NEW, "reason": "x"}, follow=True)
    assert "this one was not" in response.content.decode()
    assert not Delivery.objects.filter(resend_of=delivery).exists()


def test_a_password_reset_never_goes_to_another_address(
    client, django_capture_on_commit_callbacks, mailoutbox
):
    # A password-reset link sets the password of its recipient's login: sent to another
    # address, it would give that login (and its accounts) to whoever reads that mailbox.
    portal_contact(email="carol@blueharbor.example")
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("password_reset"), {"email": "carol@blueharbor.example"})
    delivery = Delivery.objects.get(kind=DeliveryKind.PASSWORD_RESET)
    Delivery.objects.filter(pk=delivery.pk).update(
        status=DeliveryStatus.FAILED, last_error="SMTPRecipientsRefused: 550 5.1.1 No such user"
    )
    mailoutbox.clear()
    staff = _staff(CUSTOMER_CARE)

    page = staff.get(reverse("admin:outbox_delivery_change", args=[delivery.pk]))
    assert _form_url(delivery) not in page.content.decode()
    response = staff.post(_form_url(delivery), {"recipient": NEW, "reason": "x"}, follow=True)

    assert "this one was not" in response.content.decode()
    assert not Delivery.objects.filter(resend_of=delivery).exists()
    assert mailoutbox == []
    delivery.refresh_from_db()
    with pytest.raises(ValueError):
        delivery_resend(delivery=delivery, actor=staff.user, reason="x", recipient=NEW)
    assert not Delivery.objects.filter(resend_of=delivery).exists()


@pytest.mark.parametrize(
    ("posted", "error"),
    [
        ({"recipient": "it.desk at northwind", "reason": "x"}, "Enter a valid email address."),
        ({"recipient": "", "reason": "x"}, "This field is required."),
        (
            {"recipient": "it.desk@northwind.example\r\nBcc: all@rivals.example", "reason": "x"},
            "Enter a valid email address.",
        ),
        ({"recipient": NEW, "reason": "  "}, "This field is required."),
        (
            {"recipient": "BUYER@Northwind.example", "reason": "x"},
            "This is the address that did not receive the message",
        ),
    ],
    ids=["not an address", "no address", "header injection", "no reason", "same address"],
)
def test_bad_input_says_what_is_wrong_and_sends_nothing(bounced, mailoutbox, posted, error):
    delivery, _order = bounced
    client = _staff(CUSTOMER_CARE)

    response = client.post(_form_url(delivery), posted)

    assert response.status_code == 200
    assert error in response.content.decode()
    assert not Delivery.objects.filter(resend_of=delivery).exists()
    assert not AuditEvent.objects.filter(action="delivery.resent").exists()
    assert mailoutbox == []


def test_the_same_new_address_twice_is_one_resend(bounced, django_capture_on_commit_callbacks):
    delivery, _order = bounced
    client = _staff(CUSTOMER_CARE)
    with django_capture_on_commit_callbacks(execute=True):
        client.post(_form_url(delivery), {"recipient": NEW, "reason": "by phone"})
    again = client.post(_form_url(delivery), {"recipient": NEW.upper(), "reason": "by phone"})

    assert again.status_code == 200
    assert "already sent again to this address" in again.content.decode()
    assert Delivery.objects.filter(resend_of=delivery).count() == 1


def test_an_email_that_arrived_is_not_sent_elsewhere(bounced):
    delivery, _order = bounced
    Delivery.objects.filter(pk=delivery.pk).update(tracking_status=TrackingStatus.DELIVERED)
    client = _staff(CUSTOMER_CARE)

    page = client.get(reverse("admin:outbox_delivery_change", args=[delivery.pk]))
    assert _form_url(delivery) not in page.content.decode()
    response = client.post(_form_url(delivery), {"recipient": NEW, "reason": "x"}, follow=True)
    assert "can be sent to another address; this one was not" in response.content.decode()
    assert not Delivery.objects.filter(resend_of=delivery).exists()


def test_an_email_the_mail_server_refused_for_good_may_go_elsewhere(bounced):
    delivery, order = bounced
    Delivery.objects.filter(pk=delivery.pk).update(
        tracking_status="",
        tracking_detail="",
        status=DeliveryStatus.FAILED,
        last_error="SMTPRecipientsRefused: 550 5.1.1 No such user",
    )
    client = _staff(CUSTOMER_CARE)

    order_page = client.get(reverse("admin:orders_salesorder_change", args=[order.pk]))
    assert "⚠ Failed" in order_page.content.decode()
    assert _form_url(delivery) in order_page.content.decode()
    assert "No such user" in client.get(_form_url(delivery)).content.decode()


def test_an_unknown_delivery_is_not_found():
    client = _staff(CUSTOMER_CARE)
    url = reverse("admin:outbox_delivery_send_elsewhere", args=[987654])
    assert client.get(url).status_code == 404
