"""A certificate prints the activation code, so only staff who may see codes download it."""

import pytest
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account

pytestmark = pytest.mark.django_db


def staff(role: str) -> Client:
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def certificate():
    return entitlement_of(new_account()).certificates.get()


def pages_naming_the_certificate(certificate) -> list[str]:
    return [
        reverse("admin:entitlements_entitlement_change", args=[certificate.entitlement_id]),
        reverse("admin:entitlements_certificate_changelist"),
        reverse("admin:entitlements_certificate_change", args=[certificate.pk]),
    ]


def test_customer_care_downloads_the_certificate_from_each_page_that_lists_it(certificate):
    care = staff(CUSTOMER_CARE)
    download = reverse("admin:entitlements_certificate_download", args=[certificate.pk])

    for url in pages_naming_the_certificate(certificate):
        assert download in care.get(url).content.decode(), url
    response = care.get(download)
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith(b"%PDF")


def test_operations_neither_downloads_a_certificate_nor_sees_a_link_to_one(certificate):
    ops = staff(OPERATIONS)
    download = reverse("admin:entitlements_certificate_download", args=[certificate.pk])

    for url in pages_naming_the_certificate(certificate):
        page = ops.get(url)
        assert page.status_code == 200, url
        assert download not in page.content.decode(), url
    assert ops.get(download).status_code == 403
