"""Subscription reminders over real SMTP, with frozen time: windows, digests, once each."""

import datetime
import threading

import pytest
import time_machine
from django.contrib.admin import helpers
from django.db import IntegrityError, connection, transaction
from django.urls import reverse

from apps.core.actors import Job
from apps.fulfillment.services import order_lines_fulfil_due
from apps.notifications.models import Reminder
from apps.notifications.reminders import reminder_window, reminders_queue
from apps.notifications.tasks import reminders_task
from apps.outbox.models import Delivery, DeliveryKind
from tests.factories.accounts import AccountAssociationFactory
from tests.factories.catalog import ProductFactory
from tests.factories.notifications import DeliveryFactory
from tests.fulfillment.helpers import order_with_lines

D = datetime.date
END, GRACE_END = D(2027, 12, 1), D(2027, 12, 31)


@pytest.mark.parametrize(
    ("today", "window"),
    [
        (D(2027, 9, 1), None),  # 91 days before
        (D(2027, 9, 2), "90"),
        (D(2027, 10, 1), "90"),
        (D(2027, 10, 2), "60"),
        (D(2027, 11, 24), "7"),
        (END, "7"),
        (D(2027, 12, 2), "grace"),
        (GRACE_END, "grace"),
        (D(2028, 1, 1), "expired"),
        (D(2028, 3, 1), None),  # long expired: history, not news
    ],
)
def test_the_window_a_term_has_reached(today, window):
    assert reminder_window(term_end=END, grace_end=GRACE_END, today=today) == window


def at(day):
    return time_machine.travel(
        datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC), tick=False
    )


@pytest.fixture
def two_subscriptions():
    """Two subscriptions of one order (ending 1 December 2027), a contact on its end customer."""
    product = ProductFactory(name="Threat Defense", subscription=True)
    ProductFactory(sku="TD-REN", subscription=True, renews=product)
    with at(D(2026, 12, 1)):
        order = order_with_lines(
            dates=[D(2026, 12, 1), D(2026, 12, 1)],
            product=product,
            emails=["buyer@northwind.example"],
        )
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    end_customer = order.order_accounts.get(role="end_customer").account
    AccountAssociationFactory(
        account=end_customer, contact__user__email="alice@northwind.example", contact__language="de"
    )
    return order


@pytest.mark.django_db(transaction=True)
def test_each_window_reaches_everyone_once_in_one_digest_a_day(smtp, two_subscriptions):
    smtp.messages.clear()
    ssrns = [line.entitlement.ssrn for line in two_subscriptions.lines.all()]

    with at(D(2027, 9, 2)):
        reminders_task()
        reminders_task()  # however often it runs

    assert sorted(m["X-Envelope-To"] for m in smtp.messages) == [
        "alice@northwind.example",
        "buyer@northwind.example",
    ]
    digest = smtp.to("buyer@northwind.example")[0]
    text = digest.get_body(("plain",)).get_content()
    assert all(ssrn in text for ssrn in ssrns)  # both subscriptions, one digest
    assert "Ends in 90 days or less, on Dec. 1, 2027." in text
    assert "To renew, order TD-REN naming this SSRN." in text

    with at(D(2027, 9, 3)):
        reminders_task()
    assert len(smtp.messages) == 2  # the 90-day window was told already

    for day, expected in [
        (D(2027, 10, 2), "Ends in 60 days"),
        (D(2027, 12, 2), "grace period until Dec. 31, 2027"),
        (D(2028, 1, 1), "Expired on Dec. 31, 2027"),
    ]:
        with at(day):
            reminders_task()
        assert expected in smtp.to("buyer@northwind.example")[-1].get_body(("plain",)).get_content()
    assert len(smtp.to("buyer@northwind.example")) == 4
    assert (
        Reminder.objects.filter(email="buyer@northwind.example").count() == 8
    )  # 4 windows x 2 terms


@pytest.mark.django_db(transaction=True)
def test_a_renewed_subscription_is_no_longer_reminded_of_its_old_term(smtp, two_subscriptions):
    first, second = two_subscriptions.lines.order_by("line_number")
    renewal = order_with_lines(
        dates=[D(2027, 11, 1)],
        product=ProductFactory._meta.model.objects.get(sku="TD-REN"),
        emails=["buyer@northwind.example"],
        # A renewal comes from an order for the entitlement's own end customer.
        end_customer=first.entitlement.entitlement_accounts.get(role="end_customer").account,
    )
    renewal.lines.update(renews_ssrn=first.entitlement.ssrn)
    with at(D(2027, 11, 1)):
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))
    smtp.messages.clear()

    with at(D(2027, 11, 24)):  # seven days before the old term's end
        reminders_task()

    text = smtp.to("buyer@northwind.example")[0].get_body(("plain",)).get_content()
    assert second.entitlement.ssrn in text
    assert first.entitlement.ssrn not in text


@pytest.mark.django_db(transaction=True)
def test_the_email_queue_lists_digests_beside_fulfillment_emails_and_resends_only_the_latter(
    smtp, two_subscriptions, client, admin_user
):
    with at(D(2027, 9, 2)):
        reminders_task()
        client.force_login(admin_user)
        url = reverse("admin:outbox_delivery_changelist")
        page = client.get(url)
        digest = Delivery.objects.filter(kind=DeliveryKind.REMINDER_DIGEST).first()
        client.post(
            url,
            {
                "action": "resend",
                helpers.ACTION_CHECKBOX_NAME: [digest.pk],
                "confirm": "yes",
                "reason": "x",
            },
        )

    assert page.status_code == 200 and "Subscription reminders" in page.content.decode()
    assert not Delivery.objects.filter(resend_of=digest).exists()


@pytest.mark.django_db(transaction=True)
def test_a_failed_digest_is_sent_again_from_the_email_queue(
    smtp, two_subscriptions, client, admin_user
):
    with at(D(2027, 9, 2)):
        reminders_task()
    digest = Delivery.objects.get(
        kind=DeliveryKind.REMINDER_DIGEST, recipient="buyer@northwind.example"
    )
    Delivery.objects.filter(pk=digest.pk).update(
        status="failed", attempts=5, sent_at=None, last_error="SMTPDataError: (554, b'no')"
    )
    smtp.messages.clear()

    with at(D(2027, 9, 2)):
        client.force_login(admin_user)
        response = client.post(
            reverse("admin:outbox_delivery_changelist"),
            {"action": "retry_now", helpers.ACTION_CHECKBOX_NAME: [digest.pk]},
            follow=True,
        )

    assert "1 message queued again." in response.content.decode()
    assert [m["X-Envelope-To"] for m in smtp.messages] == ["buyer@northwind.example"]
    digest.refresh_from_db()
    assert digest.status == "sent"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_run_that_meets_a_running_one_leaves_the_day_to_it(two_subscriptions):
    # Given an hourly run that is still writing its digests (its transaction is open)
    writing, finish, first = threading.Event(), threading.Event(), []

    def running_run():
        try:
            with at(D(2027, 9, 2)), transaction.atomic():
                first.extend(reminders_queue())
                writing.set()
                finish.wait(timeout=30)
        finally:
            connection.close()

    def next_run(result):
        try:
            with at(D(2027, 9, 2)):
                result.extend(reminders_queue())
        finally:
            connection.close()

    running = threading.Thread(target=running_run)
    running.start()
    assert writing.wait(timeout=30)

    # When the next run starts meanwhile
    second = []
    meeting = threading.Thread(target=next_run, args=(second,))
    meeting.start()
    meeting.join(timeout=10)
    waited = meeting.is_alive()
    finish.set()
    running.join(timeout=30)
    meeting.join(timeout=30)

    # Then it returns at once with nothing, and each address has one digest of that day
    assert not waited, "the next run waited for the running one"
    assert second == [] and len(first) == 2
    digests = Delivery.objects.filter(kind=DeliveryKind.REMINDER_DIGEST)
    assert sorted(digests.values_list("recipient", flat=True)) == [
        "alice@northwind.example",
        "buyer@northwind.example",
    ]
    assert Reminder.objects.count() == 4  # 2 terms x 2 addresses, once each


def test_one_digest_a_day_per_address_is_a_database_rule(db):
    DeliveryFactory(
        kind=DeliveryKind.REMINDER_DIGEST, topic="digest:2027-09-02", recipient="a@x.example"
    )
    with pytest.raises(IntegrityError), transaction.atomic():
        DeliveryFactory(
            kind=DeliveryKind.REMINDER_DIGEST, topic="digest:2027-09-02", recipient="A@x.example"
        )
