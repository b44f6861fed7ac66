"""POST /api/v1/accounts/: associating a contact with an account needs its own scope, is
announced to the account's contacts and audited; a changed email tells the old address."""

import pytest
from django.urls import reverse

from apps.accounts.models import AccountAssociation, Contact
from apps.core.models import AuditEvent
from tests.api.conftest import api
from tests.factories.accounts import AccountAssociationFactory, AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db
ACCOUNTS = reverse("api:accounts")


def newcomer(account_ids, email="mallory@elsewhere.example"):
    return {
        "contacts": [
            {"contact_id": "C-NEW", "email": email, "name": "M", "account_ids": account_ids}
        ]
    }


def test_a_client_without_the_associate_scope_cannot_associate_a_contact_with_an_account():
    account = AccountFactory(account_id="0100012345")
    AccountAssociationFactory(account=account)
    erp = api(scopes=["accounts:write"], name="CRM sync")

    refused = erp.post(ACCOUNTS, newcomer([account.account_id]), format="json")

    assert refused.status_code == 403
    assert refused.json()["errors"] == [
        'contacts[0].account_ids: this API client lacks the scope "accounts:associate"'
    ]
    assert not Contact.objects.filter(contact_id="C-NEW").exists()
    # Contacts without associations still go through.
    assert erp.post(ACCOUNTS, newcomer([]), format="json").status_code == 200
    assert AccountAssociation.objects.count() == 1


def test_a_new_association_is_announced_to_the_accounts_contacts_in_their_language(
    smtp, django_capture_on_commit_callbacks
):
    account = AccountFactory(account_id="0100012345", name="Northwind Networks")
    anna = ContactFactory(language="de", user__email="anna@northwind.example")
    AccountAssociationFactory(account=account, contact=anna)
    AccountAssociationFactory(account=AccountFactory(), contact=ContactFactory())  # elsewhere
    erp = api(scopes=["accounts:write", "accounts:associate"], name="ERP production")

    with django_capture_on_commit_callbacks(execute=True):
        done = erp.post(ACCOUNTS, newcomer(["0100012345"]), format="json")
    assert done.status_code == 200

    assert [m["To"] for m in smtp.messages] == ["anna@northwind.example"]
    mail = smtp.messages[0]
    body = mail.get_payload(decode=True).decode()
    assert "0100012345" in mail["Subject"] and "Neuer Kontakt" in mail["Subject"]
    assert "mallory@elsewhere.example" in body and "ERP production" in body
    event = AuditEvent.objects.get(action="account_association.created")
    assert event.data == {
        "contact_id": "C-NEW",
        "email": "mallory@elsewhere.example",
        "account_id": "0100012345",
        "api_client": "ERP production",
    }

    # The same file again adds nothing and tells nobody again.
    with django_capture_on_commit_callbacks(execute=True):
        erp.post(ACCOUNTS, newcomer(["0100012345"]), format="json")
    assert len(smtp.messages) == 1


def test_changing_a_contacts_email_tells_the_old_address(smtp, django_capture_on_commit_callbacks):
    ContactFactory(contact_id="C-7", user__email="alice@northwind.example", language="fr")
    erp = api(scopes=["accounts:write"], name="CRM sync")
    body = {
        "contacts": [
            {"contact_id": "C-7", "email": "alice@evil.example", "name": "A", "language": "fr"}
        ]
    }

    with django_capture_on_commit_callbacks(execute=True):
        assert erp.post(ACCOUNTS, body, format="json").status_code == 200

    assert [m["To"] for m in smtp.messages] == ["alice@northwind.example"]
    text = smtp.messages[0].get_payload(decode=True).decode()
    assert "alice@evil.example" in text and "CRM sync" in text
    assert "Customer Care" in text or "service client" in text.lower()


def test_without_the_associate_scope_a_client_cannot_move_an_associated_login_elsewhere(smtp):
    alice = ContactFactory(contact_id="C-7", user__email="alice@northwind.example")
    AccountAssociationFactory(contact=alice)
    erp = api(scopes=["accounts:write"], name="CRM sync")
    moved = {"contacts": [{"contact_id": "C-7", "email": "alice@evil.example", "name": "A"}]}
    same_in_capitals = {
        "contacts": [{"contact_id": "C-7", "email": "ALICE@northwind.example", "name": "A"}]
    }

    refused = erp.post(ACCOUNTS, moved, format="json")

    assert refused.status_code == 403
    assert refused.json()["errors"] == [
        'contacts[0].email: this API client lacks the scope "accounts:associate" to change '
        "the address of a contact associated with accounts"
    ]
    alice.user.refresh_from_db()
    assert alice.user.email == "alice@northwind.example" and smtp.messages == []
    assert erp.post(ACCOUNTS, same_in_capitals, format="json").status_code == 200
