"""Names typed into the admin follow the accounts file's contract, as the import's do: a
control character (a line break in a subject line, a CSV cell, a certificate) is refused on
the page, with the field, and nothing is written. An account so named would also have made
every order of it unsaveable."""

import pytest
from django.urls import reverse

from apps.core.models import AuditEvent
from tests.admin_forms import admin_form_data
from tests.factories.accounts import AccountFactory, ContactFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("name", ["Northwind\x07Networks", "Northwind\u2028Networks"])
def test_an_account_name_with_a_control_character_is_refused_on_its_page(admin_client, name):
    account = AccountFactory(name="Northwind Networks")
    url = reverse("admin:accounts_account_change", args=[account.pk])
    data = admin_form_data(admin_client.get(url))
    data["name"] = name

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "control characters are not allowed" in response.content.decode()
    account.refresh_from_db()
    assert account.name == "Northwind Networks"
    assert not AuditEvent.objects.filter(action="account.updated").exists()


def test_a_new_account_with_a_control_character_in_its_name_is_not_created(admin_client):
    url = reverse("admin:accounts_account_add")
    data = admin_form_data(admin_client.get(url))
    data.update({"account_id": "0100077777", "name": "Blue\x1bHarbor", "kind": "customer"})

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "control characters are not allowed" in response.content.decode()
    assert not AuditEvent.objects.filter(action="account.created").exists()


def test_a_contact_name_with_a_control_character_is_refused_on_its_page(admin_client):
    contact = ContactFactory(user__name="Alice Smith")
    url = reverse("admin:accounts_contact_change", args=[contact.pk])
    data = admin_form_data(admin_client.get(url))
    data["name"] = "Alice\x0bSmith"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "control characters are not allowed" in response.content.decode()
    contact.user.refresh_from_db()
    assert contact.user.name == "Alice Smith"
    assert not AuditEvent.objects.filter(action="contact.updated").exists()


def test_a_login_name_with_a_control_character_is_refused_on_its_page(admin_client):
    # A name is what the audit trail shows for who did something.
    staff = UserFactory(is_staff=True, name="Bob Jones")
    url = reverse("admin:accounts_user_change", args=[staff.pk])
    data = admin_form_data(admin_client.get(url))
    data["name"] = "Bob\rJones"

    response = admin_client.post(url, data)

    assert response.status_code == 200
    assert "control characters are not allowed" in response.content.decode()
    staff.refresh_from_db()
    assert staff.name == "Bob Jones"
    assert not AuditEvent.objects.filter(action="user.updated").exists()
