import json

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import Account, AccountAssociation, Contact, User
from apps.accounts.services import accounts_import
from apps.core.actors import Job
from apps.core.contracts import Rejected
from tests.factories.accounts import AccountFactory, ContactFactory

pytestmark = pytest.mark.django_db

DOCUMENT = {
    "accounts": [
        {"account_id": "0100012345", "name": "Northwind Networks", "kind": "customer"},
        {"account_id": "0200054321", "name": "Blue Harbor Integrators", "kind": "partner"},
    ],
    "contacts": [
        {
            "contact_id": "C-1",
            "email": "alice@northwind.example",
            "name": "Alice",
            "language": "de",
            "account_ids": ["0100012345", "0200054321"],
        },
    ],
}


def test_an_accounts_file_creates_accounts_contacts_logins_and_associations():
    result = accounts_import(document=DOCUMENT, actor=Job("import_accounts"))

    assert result.rows == [
        ("account 0100012345", "created"),
        ("account 0200054321", "created"),
        ("contact C-1", "created"),
    ]
    contact = Contact.objects.get(contact_id="C-1")
    assert contact.user.email == "alice@northwind.example"
    assert contact.language == "de"
    assert sorted(contact.accounts.values_list("account_id", flat=True)) == [
        "0100012345",
        "0200054321",
    ]
    # The contact signs in with its own address once it has set a password.
    assert User.objects.get_by_natural_key("ALICE@northwind.example") == contact.user
    assert not contact.user.has_usable_password()


def test_importing_the_same_file_again_changes_nothing():
    accounts_import(document=DOCUMENT, actor=Job("import_accounts"))
    history_before = AccountAssociation.history.count()

    result = accounts_import(document=DOCUMENT, actor=Job("import_accounts"))

    assert {outcome for _, outcome in result.rows} == {"unchanged"}
    assert AccountAssociation.history.count() == history_before
    assert Account.objects.count() == 2 and Contact.objects.count() == 1


def test_an_import_updates_what_changed_and_never_removes_an_association():
    accounts_import(document=DOCUMENT, actor=Job("import_accounts"))
    changed = json.loads(json.dumps(DOCUMENT))
    changed["accounts"][0]["name"] = "Northwind Networks GmbH"
    changed["contacts"][0]["account_ids"] = ["0100012345"]

    result = accounts_import(document=changed, actor=Job("import_accounts"))

    assert dict(result.rows)["account 0100012345"] == "updated"
    assert dict(result.rows)["contact C-1"] == "unchanged"
    assert Account.objects.get(account_id="0100012345").name == "Northwind Networks GmbH"
    assert Contact.objects.get(contact_id="C-1").accounts.count() == 2


def test_a_file_with_errors_names_each_and_writes_nothing():
    ContactFactory(user__email="taken@example.com", contact_id="C-OTHER")
    bad = {
        "accounts": [
            {"account_id": "0100012345", "name": "Northwind"},
            {"account_id": "12AB", "name": "Bad"},
            {"account_id": "0100012345", "name": "Twice"},
        ],
        "contacts": [
            {"contact_id": "C-1", "email": "not-an-email", "account_ids": []},
        ],
    }

    with pytest.raises(Rejected) as rejected:
        accounts_import(document=bad, actor=Job("import_accounts"))

    assert "accounts[1].account_id: An Account ID is 4 to 20 digits." in rejected.value.errors
    assert "contacts[0].email: Enter a valid email address." in rejected.value.errors
    assert Account.objects.count() == 0


def test_cross_row_problems_are_reported_with_their_rows():
    ContactFactory(user__email="taken@example.com", contact_id="C-OTHER")
    bad = {
        "accounts": [
            {"account_id": "0100012345", "name": "A"},
            {"account_id": "0100012345", "name": "B"},
        ],
        "contacts": [
            {"contact_id": "C-1", "email": "TAKEN@example.com", "account_ids": ["0999999999"]},
        ],
    }

    with pytest.raises(Rejected) as rejected:
        accounts_import(document=bad, actor=Job("import_accounts"))

    assert rejected.value.errors == [
        "accounts[1].account_id: 0100012345 is already in accounts[0]",
        "contacts[0].account_ids[0]: unknown Account ID 0999999999",
        "contacts[0].email: TAKEN@example.com already belongs to another login",
    ]
    assert not Account.objects.filter(account_id="0100012345").exists()


def test_an_association_made_by_an_import_is_in_the_history():
    AccountFactory(account_id="0100012345")
    accounts_import(
        document={
            "contacts": [
                {"contact_id": "C-9", "email": "c9@example.com", "account_ids": ["0100012345"]},
            ]
        },
        actor=Job("import_accounts"),
    )

    change = AccountAssociation.history.get()

    assert change.history_type == "+"
    assert change.account.account_id == "0100012345"
    assert change.contact.contact_id == "C-9"


def test_the_command_reports_each_row_and_fails_on_a_bad_file(tmp_path, capsys):
    good = tmp_path / "accounts.json"
    good.write_text(json.dumps(DOCUMENT))
    broken = tmp_path / "broken.json"
    broken.write_text('{"accounts": [\n  {"account_id": "1"},\n')

    call_command("import_accounts", str(good))
    assert "contact C-1: created" in capsys.readouterr().out

    with pytest.raises(CommandError, match="nothing was imported"):
        call_command("import_accounts", str(broken))
    assert "not valid JSON at line 3" in capsys.readouterr().err
