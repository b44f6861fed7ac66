"""Notices of changes a person did not make: a changed login address, told to the old one."""

import datetime

import pytest
import time_machine
from django.utils import timezone

from apps.accounts.services import contact_save
from apps.core.actors import Job
from apps.fulfillment.tasks import queued_work_rescue_task
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from tests.factories.accounts import ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_customer_care_changing_an_address_tells_the_old_one_once_even_if_the_message_is_lost(
    smtp,
):
    contact = ContactFactory(user__email="alice@northwind.example", language="ja")
    care = UserFactory(is_staff=True)

    # The on-commit message is lost (callbacks do not run here); the rescuer sends it.
    contact_save(
        contact_id=contact.contact_id,
        email="alice@new.example",
        name="Alice",
        language="ja",
        actor=care,
        contact=contact,
    )
    queued_work_rescue_task()
    assert smtp.messages == []  # not before the grace period
    with time_machine.travel(timezone.now() + datetime.timedelta(minutes=3)):
        queued_work_rescue_task()
        queued_work_rescue_task()

    assert [m["To"] for m in smtp.messages] == ["alice@northwind.example"]
    text = smtp.messages[0].get_payload(decode=True).decode()
    assert "alice@new.example" in text and "カスタマーケア" in text
    assert Delivery.objects.get(kind=DeliveryKind.CONTACT_NOTICE).status == DeliveryStatus.SENT


def test_an_address_changed_only_in_case_tells_nobody(smtp, django_capture_on_commit_callbacks):
    contact = ContactFactory(user__email="alice@northwind.example")
    with django_capture_on_commit_callbacks(execute=True):
        contact_save(
            contact_id=contact.contact_id,
            email="Alice@Northwind.example",
            name="Alice",
            language="en",
            contact=contact,
            actor=Job("import_accounts"),
        )
    assert smtp.messages == [] and not Delivery.objects.exists()
