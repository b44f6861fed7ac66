"""Activating an entitlement on device serial numbers, from its page and with a code."""

import threading

import pytest
from django.core import mail
from django.db import connection
from django.test import Client, TestCase
from django.urls import reverse

from apps.catalog.models import DeliveryMethod
from apps.core.codes import new_activation_code
from apps.entitlements.activations import activations_revoke
from apps.entitlements.license_keys import license_key_verify
from apps.entitlements.models import Activation
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.portal.helpers import entitlement_of, new_account, portal_contact, subscription_of


def _activate(client, entitlement, serials: str):
    return client.post(
        reverse("portal:activate", args=[entitlement.ssrn]), {"serial_numbers": serials}
    )


@pytest.fixture
def owner(client, db):
    account = new_account()
    contact = portal_contact(account)
    client.force_login(contact.user)
    client.account = account
    return client


@pytest.mark.django_db
def test_pasted_serials_get_a_verifiable_key_each_and_take_a_seat_each(owner):
    entitlement = entitlement_of(owner.account, quantity=3)

    response = _activate(owner, entitlement, "ftx2231a0bc\n  FTX2231A0BD \n\nftx2231a0bc\n")

    assert response.status_code == 200
    activated = response.context["activated"]
    assert [a.serial_number for a in activated] == ["FTX2231A0BC", "FTX2231A0BD"]
    page = response.content.decode()
    assert "2 / 3" in page  # seats used
    for activation in activated:
        key = license_key_verify(activation.license_key)
        assert (key.ssrn, key.serial, key.sku) == (
            entitlement.ssrn,
            activation.serial_number,
            entitlement.product.sku,
        )
        assert activation.license_key.splitlines()[0] in page


@pytest.mark.django_db
def test_the_same_serial_again_returns_the_same_key_and_no_new_seat(owner):
    entitlement = entitlement_of(owner.account, quantity=1)
    first = _activate(owner, entitlement, "SN-1").context["activated"][0]

    again = _activate(owner, entitlement, "sn-1")

    assert again.status_code == 200
    assert again.context["activated"][0].license_key == first.license_key
    assert Activation.objects.filter(entitlement=entitlement).count() == 1


@pytest.mark.django_db
def test_more_serials_than_free_seats_are_refused_whole_with_the_count(owner):
    entitlement = entitlement_of(owner.account, quantity=2)
    _activate(owner, entitlement, "SN-1")

    response = _activate(owner, entitlement, "SN-2\nSN-3")

    assert response.status_code == 400
    assert "2 new device(s) need 2 seat(s), but 1 of the 2 seats" in response.content.decode()
    assert Activation.objects.filter(entitlement=entitlement).count() == 1


@pytest.mark.django_db
def test_a_bad_serial_is_named_with_its_line_and_nothing_is_activated(owner):
    entitlement = entitlement_of(owner.account, quantity=5)

    response = _activate(owner, entitlement, "SN-1\nno spaces allowed?\n")

    assert response.status_code == 400
    assert "line 2: &quot;ALLOWED?&quot; is not a serial number" in response.content.decode()
    assert not Activation.objects.exists()


@pytest.mark.django_db
def test_heritage_products_and_expired_entitlements_are_not_activated(owner):
    heritage = entitlement_of(
        owner.account, product=ProductFactory(delivery_method=DeliveryMethod.HERITAGE_DOCUMENT)
    )
    expired = subscription_of(owner.account, ends_in_days=-60)

    refused = _activate(owner, heritage, "SN-1")
    assert "it is not activated on devices" in refused.content.decode()
    refused = _activate(owner, expired, "SN-1")
    assert f"{expired.ssrn} is expired: no device can be activated" in refused.content.decode()
    assert not Activation.objects.exists()


@pytest.mark.django_db
def test_keys_download_as_a_file_and_by_email(owner):
    entitlement = entitlement_of(owner.account, quantity=2)
    keys = [a.license_key for a in _activate(owner, entitlement, "SN-1\nSN-2").context["activated"]]

    download = owner.get(reverse("portal:keys", args=[entitlement.ssrn]))
    assert download["Content-Disposition"] == (
        f'attachment; filename="license-keys-{entitlement.ssrn}.txt"'
    )
    assert all(key in download.content.decode() for key in keys)

    with TestCase.captureOnCommitCallbacks(execute=True):  # the email leaves on commit
        owner.post(reverse("portal:keys-email", args=[entitlement.ssrn]))
    (message,) = mail.outbox
    user = owner.get(reverse("portal:entitlements")).context["user"]
    assert message.to == [user.email]
    (name, text, _type) = message.attachments[0]
    assert name == f"license-keys-{entitlement.ssrn}.txt"
    assert all(key in text for key in keys)


@pytest.mark.django_db
def test_a_revoked_activation_frees_its_seat_and_the_user_sees_it(owner, admin_client):
    entitlement = entitlement_of(owner.account, quantity=1)
    activation = _activate(owner, entitlement, "SN-1").context["activated"][0]

    admin_client.post(
        reverse("admin:entitlements_activation_changelist"),
        {
            "action": "revoke",
            "_selected_action": [activation.pk],
            "confirm": "1",
            "reason": "device returned (RMA 4411)",
        },
    )

    page = owner.get(reverse("portal:entitlement", args=[entitlement.ssrn])).content.decode()
    assert "device returned (RMA 4411)" in page and "0 / 1" in page
    assert _activate(owner, entitlement, "SN-2").status_code == 200


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_requests_at_once_never_take_more_seats_than_the_quantity():
    # Given an entitlement of two seats, one taken, and two users on two connections
    account = new_account()
    entitlement = entitlement_of(account, quantity=2)
    Activation.objects.create(entitlement=entitlement, serial_number="SN-0", license_key="k")
    clients = []
    for _ in range(2):
        client = Client()
        client.force_login(portal_contact(account).user)
        clients.append(client)

    for round_number in range(6):
        # When both ask for the last seat at the same moment
        barrier = threading.Barrier(2)
        statuses = []

        def activate(client, serial, barrier=barrier, statuses=statuses):
            barrier.wait()
            statuses.append(_activate(client, entitlement, serial).status_code)
            connection.close()

        threads = [
            threading.Thread(target=activate, args=(client, f"SN-{round_number}-{n}"))
            for n, client in enumerate(clients)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

        # Then one gets it and the other is told why; the seats never exceed the quantity
        assert sorted(statuses) == [200, 400]
        live = Activation.objects.filter(entitlement=entitlement, revoked_at__isnull=True)
        assert live.count() == 2
        activations_revoke(
            activation_ids=[live.exclude(serial_number="SN-0").get().pk],
            actor=UserFactory(is_staff=True),
            reason="next round",
        )


@pytest.mark.django_db
class TestActivationWithACode:
    url = reverse("portal:activate-with-code")

    @pytest.fixture
    def installer(self, client):
        client.force_login(UserFactory())  # a login with no association at all
        return client

    def test_the_code_holder_activates_without_seeing_the_account(self, installer):
        entitlement = entitlement_of(new_account(), quantity=2)
        code = entitlement.activation_code.replace("-", " ").lower()

        response = installer.post(self.url, {"activation_code": code, "serial_numbers": "SN-9"})

        assert response.status_code == 200
        (activation,) = response.context["activated"]
        assert license_key_verify(activation.license_key).serial == "SN-9"
        detail = installer.get(reverse("portal:entitlement", args=[entitlement.ssrn]))
        assert detail.status_code == 404
        download = installer.post(
            self.url,
            {"activation_code": code, "serial_numbers": "SN-9", "download": "1"},
        )
        assert download.content.decode() == activation.license_key

    def test_a_mistyped_code_and_an_unknown_code_are_told_apart(self, installer):
        entitlement = entitlement_of(new_account())
        code = entitlement.activation_code
        # Two different neighbours swapped (two equal ones would give the code back).
        pairs = range(5, len(code) - 1)
        i = next(i for i in pairs if "-" not in code[i : i + 2] and code[i] != code[i + 1])
        swapped = code[:i] + code[i + 1] + code[i] + code[i + 2 :]
        unknown = new_activation_code()  # well formed, and nobody's

        typo = installer.post(self.url, {"activation_code": swapped, "serial_numbers": "SN-1"})
        missing = installer.post(self.url, {"activation_code": unknown, "serial_numbers": "SN-1"})

        assert "has a typing mistake" in typo.content.decode()
        assert "No entitlement has this activation code" in missing.content.decode()
        assert code not in typo.content.decode()
        assert not Activation.objects.exists()

    def test_attempts_are_limited_per_user(self, installer, settings):
        settings.ACTIVATION_CODE_RATE = "3/m"
        statuses = [
            installer.post(
                self.url, {"activation_code": "wrong", "serial_numbers": "SN-1"}
            ).status_code
            for _ in range(5)
        ]
        assert statuses[-1] == 429
        assert "Too many attempts" in installer.post(self.url, {}).content.decode()


@pytest.mark.django_db
def test_an_activation_by_a_job_or_an_api_client_keeps_no_person_and_names_its_actor():
    from apps.api.models import ApiClient
    from apps.core.actors import Job
    from apps.core.models import AuditEvent
    from apps.entitlements.activations import activations_create

    entitlement = entitlement_of(new_account(), quantity=2)
    client = ApiClient.objects.create(name="ERP", token_digest="d" * 64, scopes=[])

    for actor, serial in ((Job("import_activations"), "SN-JOB"), (client, "SN-API")):
        (activation,) = activations_create(
            entitlement_id=entitlement.pk, serial_numbers=[serial], actor=actor
        )
        assert activation.activated_by is None

    names = AuditEvent.objects.filter(action="entitlement.activated").values_list(
        "actor_name", flat=True
    )
    assert sorted(names) == ["ERP", "import_activations"]
