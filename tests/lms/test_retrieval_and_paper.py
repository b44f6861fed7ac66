"""The legacy LMS retrieval page, the admin's key upload with a preview, and paper licenses."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from apps.catalog.models import DeliveryMethod
from apps.entitlements.lifecycle import entitlement_reinstate, entitlement_suspend
from apps.lms.models import LegacyKey, LegacyKeyState
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.lms import LegacyKeyFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db
RETRIEVE = reverse("portal:legacy-keys")


@pytest.fixture
def lms_entitlement():
    product = ProductFactory(sku="LMS-VPN", delivery_method=DeliveryMethod.LEGACY_LMS)
    LegacyKeyFactory.create_batch(3, product=product)
    return entitlement_of(new_account(), product=product, quantity=2)


@pytest.fixture
def holder(client):
    client.force_login(UserFactory())
    return client


def _retrieve(client, code, serial):
    return client.post(RETRIEVE, {"authorization_code": code, "serial_number": serial})


def test_a_key_is_bound_to_the_serial_and_the_same_serial_gets_it_again(holder, lms_entitlement):
    code = lms_entitlement.activation_code

    first = _retrieve(holder, code.lower(), "vpn-0001")
    again = _retrieve(holder, code, "VPN-0001")

    assert first.status_code == again.status_code == 200
    key = first.context["key"]
    assert again.context["key"] == key
    assert (key.serial_number, key.entitlement, key.state) == (
        "VPN-0001",
        lms_entitlement,
        LegacyKeyState.ASSIGNED,
    )
    assert key.license_key in first.content.decode()
    assert LegacyKey.objects.filter(state=LegacyKeyState.ASSIGNED).count() == 1


def test_no_more_keys_than_the_quantity_and_clear_messages_for_wrong_codes(holder, lms_entitlement):
    code = lms_entitlement.activation_code
    _retrieve(holder, code, "VPN-1")
    _retrieve(holder, code, "VPN-2")

    third = _retrieve(holder, code, "VPN-3")
    typo = _retrieve(holder, code[:-1] + ("0" if code[-1] != "0" else "1"), "VPN-3")
    unknown = _retrieve(holder, entitlement_of(new_account()).activation_code[:-2] + "00", "V-3")

    assert "All 2 keys of" in third.content.decode()
    assert "typing mistake" in typo.content.decode()
    assert third.status_code == typo.status_code == 400
    assert unknown.status_code == 400
    assert LegacyKey.objects.filter(state=LegacyKeyState.ASSIGNED).count() == 2


def test_a_suspended_entitlement_hands_out_no_key_until_reinstated(holder, lms_entitlement):
    staff = UserFactory(is_staff=True)
    entitlement_suspend(entitlement_id=lms_entitlement.pk, reason="Credit hold", actor=staff)

    refused = _retrieve(holder, lms_entitlement.activation_code, "VPN-0001")

    assert refused.status_code == 400
    assert "is suspended: no key can be handed out" in refused.content.decode()
    assert not LegacyKey.objects.filter(state=LegacyKeyState.ASSIGNED).exists()

    entitlement_reinstate(entitlement_id=lms_entitlement.pk, reason="Paid", actor=staff)
    handed_out = _retrieve(holder, lms_entitlement.activation_code, "VPN-0001")

    assert handed_out.status_code == 200
    assert handed_out.context["key"].serial_number == "VPN-0001"


def test_retrieval_attempts_are_rate_limited(holder, settings):
    settings.ACTIVATION_CODE_RATE = "2/m"
    statuses = [_retrieve(holder, "nonsense", "SN-1").status_code for _ in range(3)]
    assert statuses == [400, 400, 429]


def test_the_customer_sees_retrieved_keys_with_their_serials_in_the_portal(
    client, holder, lms_entitlement
):
    key = _retrieve(holder, lms_entitlement.activation_code, "VPN-7").context["key"]
    owner = portal_contact(lms_entitlement.entitlement_accounts.get().account)
    client.force_login(owner.user)

    page = client.get(reverse("portal:entitlement", args=[lms_entitlement.ssrn])).content.decode()
    keys = client.get(reverse("portal:keys", args=[lms_entitlement.ssrn])).content.decode()

    assert "VPN-7" in page and key.license_key in page
    assert keys == key.license_key + "\n"


def test_the_admin_previews_a_key_file_then_imports_it_on_confirmation(admin_client):
    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    url = reverse("admin:lms_legacykey_import")
    good = "sku,license_key\nOLD-FW,SECRET-KEY-0001\nOLD-FW,SECRET-KEY-0002\n"

    bad = admin_client.post(
        url, {"file": SimpleUploadedFile("k.csv", (good + "NOPE,SECRET-KEY-0003\n").encode())}
    )
    assert "k.csv: line 4: unknown SKU &quot;NOPE&quot;" in bad.content.decode()
    assert "Import these keys" not in bad.content.decode()

    preview = admin_client.post(url, {"file": SimpleUploadedFile("k.csv", good.encode())})
    page = preview.content.decode()
    assert "********0001" in page and "2 new keys" in page
    assert not LegacyKey.objects.exists()

    admin_client.post(url, {"confirm": "1", "upload": preview.context["upload"].pk})
    assert LegacyKey.objects.filter(product__sku="OLD-FW").count() == 2


def test_operations_record_the_paper_certificate_and_the_portal_shows_it(client, admin_client):
    account = new_account()
    paper = entitlement_of(account, product=ProductFactory(delivery_method=DeliveryMethod.PAPER))
    url = reverse("admin:entitlements_entitlement_change", args=[paper.pk])

    form = admin_client.get(url)
    data = _inline_management_data(form)
    data.update(paper_certificate_number="PC-0042-7781", tracking_number="1Z999AA10123456784")
    assert admin_client.post(url, data).status_code == 302

    client.force_login(portal_contact(account).user)
    page = client.get(reverse("portal:entitlement", args=[paper.ssrn])).content.decode()
    assert "PC-0042-7781" in page and "1Z999AA10123456784" in page
    jal = entitlement_of(account)
    jal_url = reverse("admin:entitlements_entitlement_change", args=[jal.pk])
    assert admin_client.post(jal_url, {"tracking_number": "X"}).status_code == 403


def _inline_management_data(response) -> dict:
    """What the change page's read-only inlines post back."""
    data = {}
    for inline in response.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        for name in management.fields:
            data[f"{management.prefix}-{name}"] = management[name].value()
    return data
