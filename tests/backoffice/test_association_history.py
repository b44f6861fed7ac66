import pytest
from django.urls import reverse

from apps.accounts.models import AccountAssociation
from tests.factories.accounts import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db


def _inline_post(contact, account=None, delete_id=None):
    data = {
        "contact_id": contact.contact_id,
        "email": contact.user.email,
        "name": contact.user.name,
        "language": "en",
        "associations-TOTAL_FORMS": "1",
        "associations-INITIAL_FORMS": "0",
        "associations-MIN_NUM_FORMS": "0",
        "associations-MAX_NUM_FORMS": "1000",
        "associations-0-contact": str(contact.pk),
        "associations-0-note": "asked by phone",
        "association_history-TOTAL_FORMS": "0",
        "association_history-INITIAL_FORMS": "0",
    }
    if account is not None:
        data["associations-0-account"] = str(account.pk)
    if delete_id is not None:
        data.update(
            {
                "associations-INITIAL_FORMS": "1",
                "associations-0-id": str(delete_id),
                "associations-0-DELETE": "on",
            }
        )
        data["associations-0-account"] = str(
            AccountAssociation.objects.get(pk=delete_id).account_id
        )
    return data


def test_customer_care_associates_and_removes_and_the_history_says_who(admin_client, admin_user):
    contact = ContactFactory()
    account = AccountFactory(account_id="0100012345")
    url = reverse("admin:accounts_contact_change", args=[contact.pk])

    response = admin_client.post(url, _inline_post(contact, account=account))
    assert response.status_code == 302
    association = AccountAssociation.objects.get(contact=contact, account=account)
    admin_client.post(url, _inline_post(contact, delete_id=association.pk))

    assert not AccountAssociation.objects.filter(contact=contact).exists()
    changes = list(
        AccountAssociation.history.filter(contact_id=contact.pk).order_by("history_date")
    )
    assert [(c.history_type, c.account_id, c.history_user) for c in changes] == [
        ("+", account.pk, admin_user),
        ("-", account.pk, admin_user),
    ]
    page = admin_client.get(url).content.decode()
    assert "history of the associations" in page.lower()
    assert "removed" in page and "associated" in page


def test_associations_added_and_removed_on_a_contacts_page_are_audited(admin_client, admin_user):
    from apps.core.models import AuditEvent
    from tests.admin_forms import admin_form_data
    from tests.factories.accounts import AccountAssociationFactory, AccountFactory

    kept = AccountAssociationFactory()
    contact, new = kept.contact, AccountFactory()
    url = reverse("admin:accounts_contact_change", args=[contact.pk])
    data = admin_form_data(admin_client.get(url))
    data.update(
        {
            "associations-0-DELETE": "on",
            "associations-TOTAL_FORMS": "2",
            "associations-1-account": str(new.pk),
            "associations-1-note": "asked by phone",
        }
    )

    response = admin_client.post(url, data)

    assert response.status_code == 302
    assert list(contact.associations.values_list("account", flat=True)) == [new.pk]
    events = AuditEvent.objects.filter(action__startswith="account_association.")
    assert sorted((e.action, e.data["account_id"], e.actor) for e in events) == sorted(
        [
            ("account_association.created", new.account_id, admin_user),
            ("account_association.deleted", kept.account.account_id, admin_user),
        ]
    )
