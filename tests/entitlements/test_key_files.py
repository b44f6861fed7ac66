"""A file of license keys has one format, however it is handed out: the portal's download,
the download after activating with a code, the email of the keys, and the Fulfillment Email's
attachment of legacy keys."""

import pytest
from django.core import mail
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone

from apps.catalog.models import DeliveryMethod
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import Activation
from apps.lms.models import LegacyKeyState
from apps.notifications.emails import ShipmentContents
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db

BLOCK = "-----BEGIN KEYSHIP LICENSE KEY-----\nSSRN: X\n-----END KEYSHIP LICENSE KEY-----\n"


def test_a_key_file_is_each_key_and_one_newline_in_the_order_given():
    name, text = key_file(ssrn="7QK2-M9XD-41HC", keys=["LEGACY-1", "LEGACY-2\n", BLOCK, "B\r\n"])

    assert name == "license-keys-7QK2-M9XD-41HC.txt"
    assert text == f"LEGACY-1\nLEGACY-2\n{BLOCK}B\n"
    assert key_file(ssrn="X", keys=[]) == ("license-keys-X.txt", "")


@pytest.fixture
def owner(client):
    account = new_account()
    client.force_login(portal_contact(account).user)
    client.account = account
    return client


def test_signed_keys_come_in_one_format_from_every_surface(owner):
    entitlement = entitlement_of(owner.account, quantity=3)
    owner.post(
        reverse("portal:activate", args=[entitlement.ssrn]), {"serial_numbers": "SN-2\nSN-1"}
    )
    installer = type(owner)()
    installer.force_login(UserFactory())
    activated = installer.post(
        reverse("portal:activate-with-code"),
        {"activation_code": entitlement.activation_code, "serial_numbers": "SN-3", "download": "1"},
    )
    keys = list(
        Activation.objects.filter(entitlement=entitlement)
        .order_by("serial_number")
        .values_list("license_key", flat=True)
    )

    downloaded = owner.get(reverse("portal:keys", args=[entitlement.ssrn]))
    with TestCase.captureOnCommitCallbacks(execute=True):  # the email leaves on commit
        owner.post(reverse("portal:keys-email", args=[entitlement.ssrn]))

    name, text = key_file(ssrn=entitlement.ssrn, keys=keys)
    assert downloaded.content.decode() == text
    assert downloaded["Content-Disposition"] == f'attachment; filename="{name}"'
    assert mail.outbox[0].attachments[0][:2] == (name, text)
    assert activated.content.decode() == key_file(ssrn=entitlement.ssrn, keys=keys[2:])[1]
    assert activated["Content-Disposition"] == f'attachment; filename="{name}"'


def test_legacy_keys_come_in_the_same_format_in_the_portal_and_the_fulfillment_email(owner):
    product = ProductFactory(delivery_method=DeliveryMethod.HERITAGE_KEY)
    entitlement = entitlement_of(owner.account, product=product, quantity=2)
    for key in ("LEGACY-0001", "LEGACY-0002"):
        LegacyKeyFactory(
            product=product,
            license_key=key,
            state=LegacyKeyState.ASSIGNED,
            entitlement=entitlement,
            assigned_at=timezone.now(),
        )

    downloaded = owner.get(reverse("portal:keys", args=[entitlement.ssrn]))
    _licenses, attachments = ShipmentContents()[entitlement.order_line.shipment_id]

    name, text = key_file(ssrn=entitlement.ssrn, keys=["LEGACY-0001", "LEGACY-0002"])
    assert downloaded.content.decode() == text == "LEGACY-0001\nLEGACY-0002\n"
    assert (name, text, "text/plain") in attachments
