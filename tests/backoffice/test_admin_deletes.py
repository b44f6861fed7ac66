"""What the admin deletes goes through a service and is audited, or is not offered: a key
still in its pool is removed with an event naming who; a key handed out to a customer, a
product, a login, a contact, an account or an API client is not deleted in the admin. And a
key handed out is the customer's: Operations, who keeps the pools, sees it masked."""

import pytest
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.backoffice.roles import OPERATIONS
from apps.core.models import AuditEvent
from apps.lms.models import LegacyKey, LegacyKeyState
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import EntitlementFactory
from tests.factories.lms import LegacyKeyFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ops(client):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=OPERATIONS))
    client.force_login(user)
    return user


def _assigned_key():
    key = LegacyKeyFactory(license_key="LEGACY-HANDED-OUT-WXYZ")
    key.state, key.assigned_at = LegacyKeyState.ASSIGNED, timezone.now()
    key.entitlement = EntitlementFactory(product=key.product)
    key.save()
    return key


def test_operations_deletes_a_key_still_in_its_pool_and_the_audit_names_them(client, ops):
    key = LegacyKeyFactory(license_key="LEGACY-WRONG-KEY-1234")
    url = reverse("admin:lms_legacykey_delete", args=[key.pk])

    response = client.post(url, {"post": "yes"})

    assert response.status_code == 302
    assert not LegacyKey.objects.filter(pk=key.pk).exists()
    event = AuditEvent.objects.get(action="legacy_key.deleted")
    assert event.actor == ops
    assert event.target_id == str(key.pk)
    assert event.data == {"sku": key.product.sku, "state": "available"}
    assert "LEGACY-WRONG" not in str(event.data) + event.message


def test_a_key_handed_out_to_a_customer_is_not_deleted_from_its_page(client, ops):
    key = _assigned_key()
    url = reverse("admin:lms_legacykey_delete", args=[key.pk])

    page = client.get(url)
    client.post(url, {"post": "yes"})

    assert LegacyKey.objects.filter(pk=key.pk).exists()
    assert not AuditEvent.objects.filter(action="legacy_key.deleted").exists()
    assert page.status_code == 403 or "protected" in page.content.decode()


def test_deleting_selected_keys_with_a_handed_out_one_among_them_deletes_none(client, ops):
    available, assigned = LegacyKeyFactory(), _assigned_key()
    data = {
        "action": "delete_selected",
        helpers.ACTION_CHECKBOX_NAME: [available.pk, assigned.pk],
        "post": "yes",
    }

    page = client.post(reverse("admin:lms_legacykey_changelist"), data)

    assert LegacyKey.objects.count() == 2
    assert "protected" in page.content.decode()
    assert not AuditEvent.objects.filter(action="legacy_key.deleted").exists()


def test_deleting_selected_keys_of_a_pool_audits_each(client, ops):
    keys = [LegacyKeyFactory(), LegacyKeyFactory()]
    data = {
        "action": "delete_selected",
        helpers.ACTION_CHECKBOX_NAME: [key.pk for key in keys],
        "post": "yes",
    }

    client.post(reverse("admin:lms_legacykey_changelist"), data)

    assert not LegacyKey.objects.exists()
    events = AuditEvent.objects.filter(action="legacy_key.deleted")
    assert sorted(e.target_id for e in events) == sorted(str(k.pk) for k in keys)
    assert {e.actor for e in events} == {ops}


def test_operations_cannot_delete_a_product_in_the_admin(client, ops):
    product = ProductFactory()

    response = client.post(
        reverse("admin:catalog_product_delete", args=[product.pk]), {"post": "yes"}
    )

    assert response.status_code == 403
    product.refresh_from_db()


@pytest.mark.parametrize(
    "label", ["accounts.User", "accounts.Contact", "accounts.Account", "api.ApiClient"]
)
def test_what_has_no_delete_service_is_not_deleted_even_by_a_superuser(label):
    model = next(m for m in admin.site._registry if m._meta.label == label)
    request = RequestFactory().get("/admin/")
    request.user = UserFactory(is_staff=True, is_superuser=True)

    assert not admin.site._registry[model].has_delete_permission(request)


def test_operations_sees_a_key_handed_out_to_a_customer_masked_on_its_page(client, ops):
    # Operations keeps the pools; a key handed out is the customer's, like an activation code.
    assigned, available = _assigned_key(), LegacyKeyFactory(license_key="LEGACY-IN-POOL-5678")

    handed_out = client.get(reverse("admin:lms_legacykey_change", args=[assigned.pk]))
    in_pool = client.get(reverse("admin:lms_legacykey_change", args=[available.pk]))

    assert "LEGACY-HANDED-OUT" not in handed_out.content.decode()
    assert "********WXYZ" in handed_out.content.decode()
    assert "LEGACY-IN-POOL-5678" in in_pool.content.decode()
