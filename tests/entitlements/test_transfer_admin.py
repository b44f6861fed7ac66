"""The admin's transfer and split pages: a preview of what will happen (or why it cannot),
then the change once confirmed; for Customer Care and superusers, never Operations."""

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.models import AuditEvent
from apps.entitlements.models import Entitlement, EntitlementAccountHistory, EntitlementChange
from tests.factories.accounts import UserFactory
from tests.portal.helpers import entitlement_of, new_account

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:entitlements_entitlement_changelist"


@pytest.fixture
def entitlement():
    new_account(account_id="0300077777", name="Acheteur SA")
    return entitlement_of(new_account(account_id="0100012345", name="Northwind"), quantity=3)


def staff(role=None, **fields):
    user = UserFactory(is_staff=True, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    client = Client()
    client.force_login(user)
    return client, user


def page(client, entitlement, name):
    return reverse(f"admin:entitlements_entitlement_{name}", args=[entitlement.pk])


def test_customer_care_previews_then_confirms_a_transfer(entitlement):
    care, user = staff(CUSTOMER_CARE)
    change = reverse("admin:entitlements_entitlement_change", args=[entitlement.pk])
    url = page(care, entitlement, "transfer")
    assert url in care.get(change).content.decode()
    form = {"account_ids": "0300077777", "reason": "The plant was sold"}

    preview = care.post(url, form)

    shown = preview.content.decode()
    assert preview.status_code == 200
    assert "Preview: nothing is changed until you confirm" in shown
    assert "0100012345 Northwind (End customer)" in shown
    assert "0300077777 Acheteur SA (End customer)" in shown
    assert 'name="confirm" value="yes"' in shown
    assert not EntitlementChange.objects.exists()
    assert entitlement.entitlement_accounts.get().account.account_id == "0100012345"

    done = care.post(url, {**form, "confirm": "yes"})

    assert done.status_code == 302 and done.url == change
    assert entitlement.entitlement_accounts.get().account.account_id == "0300077777"
    assert AuditEvent.objects.get(action="entitlement.transferred").actor_id == user.pk
    history = care.get(change).content.decode()
    assert "Accounts that saw it before a transfer" in history
    assert "The plant was sold" in history
    assert EntitlementAccountHistory.objects.get().account.account_id == "0100012345"


def test_a_preview_says_why_it_cannot_be_done_and_offers_no_confirm(entitlement):
    care, _user = staff(CUSTOMER_CARE)

    refused = care.post(
        page(care, entitlement, "split"),
        {"quantity": "3", "account_ids": "0300077777", "reason": "more"},
    )
    unknown = care.post(
        page(care, entitlement, "transfer"), {"account_ids": "0399999999", "reason": "x"}
    )

    assert "quantity: from 1 to 2" in refused.content.decode()
    assert "no account has the Account ID 0399999999" in unknown.content.decode()
    for response in (refused, unknown):
        assert 'name="confirm"' not in response.content.decode()
    assert Entitlement.objects.count() == 1 and not EntitlementChange.objects.exists()


def test_a_split_from_the_changelist_action_previews_and_makes_the_new_entitlement(entitlement):
    care, _user = staff(CUSTOMER_CARE)
    chosen = {"action": "split", helpers.ACTION_CHECKBOX_NAME: [entitlement.pk], "index": 0}

    led = care.post(reverse(CHANGELIST), chosen)
    assert led.status_code == 302 and led.url == page(care, entitlement, "split")
    form = {"quantity": "2", "account_ids": "0300077777 0100012345", "reason": "subsidiary"}
    preview = care.post(led.url, form).content.decode()
    assert "Seats that move to the new entitlement" in preview
    assert f"Seats that stay with {entitlement.ssrn}" in preview
    assert "<dd>2</dd>" in preview and "<dd>1</dd>" in preview
    assert "0100012345 Northwind (Partner)" in preview
    assert Entitlement.objects.count() == 1

    done = care.post(led.url, {**form, "confirm": "yes"})

    split = Entitlement.objects.get(split_from=entitlement)
    assert done.status_code == 302
    assert done.url == reverse("admin:entitlements_entitlement_change", args=[split.pk])
    said = [str(m) for m in get_messages(done.wsgi_request)]
    assert f"Seats moved from {entitlement.ssrn} to {split.ssrn}: 2." in said
    entitlement.refresh_from_db()
    assert (entitlement.quantity, split.quantity) == (1, 2)


def test_the_changelist_action_wants_exactly_one_entitlement(entitlement):
    care, _user = staff(CUSTOMER_CARE)
    other = entitlement_of(new_account())
    chosen = {
        "action": "transfer",
        helpers.ACTION_CHECKBOX_NAME: [entitlement.pk, other.pk],
        "index": 0,
    }

    answer = care.post(reverse(CHANGELIST), chosen, follow=True)

    assert "Choose exactly one entitlement for this action." in answer.content.decode()


def test_operations_is_offered_neither_transfer_nor_split(entitlement):
    ops, _user = staff(OPERATIONS)
    change = reverse("admin:entitlements_entitlement_change", args=[entitlement.pk])

    listing = ops.get(reverse(CHANGELIST)).content.decode()
    detail = ops.get(change).content.decode()
    pages = [ops.get(page(ops, entitlement, name)) for name in ("transfer", "split")]
    forced = ops.post(
        page(ops, entitlement, "transfer"),
        {"account_ids": "0300077777", "reason": "x", "confirm": "yes"},
    )
    action = ops.post(
        reverse(CHANGELIST),
        {"action": "transfer", helpers.ACTION_CHECKBOX_NAME: [entitlement.pk], "index": 0},
    )

    assert 'value="transfer"' not in listing and 'value="split"' not in listing
    assert page(ops, entitlement, "transfer") not in detail
    assert [response.status_code for response in pages] == [403, 403]
    assert forced.status_code == 403
    assert action.status_code in (200, 302)
    assert entitlement.entitlement_accounts.get().account.account_id == "0100012345"
    assert not EntitlementChange.objects.exists()


def test_a_superuser_may_transfer_and_split(entitlement):
    root, _user = staff(is_superuser=True)

    listing = root.get(reverse(CHANGELIST)).content.decode()

    assert 'value="transfer"' in listing and 'value="split"' in listing
    assert root.get(page(root, entitlement, "split")).status_code == 200


def test_an_unknown_entitlement_page_is_404(entitlement):
    care, _user = staff(CUSTOMER_CARE)

    assert care.get("/admin/entitlements/entitlement/999999/transfer/").status_code == 404
    assert care.get("/admin/entitlements/entitlement/x%00y/split/").status_code == 404
    # Digits to str.isdigit(), but not numbers to int().
    assert care.get("/admin/entitlements/entitlement/%C2%B2/split/").status_code == 404
    assert care.get("/admin/entitlements/entitlement/1%C2%B2/transfer/").status_code == 404
