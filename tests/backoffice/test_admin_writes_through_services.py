"""Every admin that saves goes through a service and leaves an audit event.

For each role (superuser, Customer Care, Operations) and each registered ModelAdmin, found
from the admin's registry so that a new admin cannot be forgotten:

- if the role may add, the add page is posted (its own form and inline formsets, filled in
  as RECIPES says) and an audit event of the service's action must be written, with that
  member of staff as its actor;
- if the role may change the recipe's object, its page is posted back with one change, with
  the same check;
- if it may do neither, posting either page answers 403.

An admin that some role may add to or change needs a recipe here (naming the audit action
of the service its save calls), or a place on PLAIN_CONFIGURATION with the reason it may
write without one.
"""

import datetime
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import RequestFactory
from django.urls import reverse

from apps.accounts.models import AccessRequest
from apps.api.services import api_client_create
from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.core.models import AuditEvent
from apps.entitlements.models import RehostRequest
from apps.outbox.endpoints import webhook_endpoint_create
from tests.admin_forms import admin_form_data
from tests.factories.accounts import (
    AccountAssociationFactory,
    AccountFactory,
    ContactFactory,
    UserFactory,
)
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import (
    ActivationFactory,
    CertificateFactory,
    EntitlementFactory,
)
from tests.factories.lms import LegacyKeyFactory
from tests.factories.notifications import DeliveryFactory
from tests.factories.orders import OrderAccountFactory, OrderEmailFactory, OrderLineFactory
from tests.fulfillment.helpers import order_with_lines

pytestmark = pytest.mark.django_db

SUPERUSER = "superuser"
ROLES = [SUPERUSER, CUSTOMER_CARE, OPERATIONS]
LATER = (datetime.date.today() + datetime.timedelta(days=30)).isoformat()

# Admins that may write without a service: plain configuration, with why. Keep it short.
PLAIN_CONFIGURATION: dict[str, str] = {}


@dataclass
class Recipe:
    """How to exercise one admin: `make` the object to change; `add` and `change` fill in
    the posted form (they get the data and the object, and change the data); the audit
    actions of the services their saves must call."""

    make: Callable
    change: Callable
    change_action: str
    add: Callable | None = None
    add_action: str = ""


def _order():
    order = order_with_lines(dates=[datetime.date.today() + datetime.timedelta(days=30)])
    return order


def _add_order(data, _obj):
    account, product = AccountFactory(), ProductFactory()
    data.update(
        {
            "order_number": "SO-NEW-1",
            "language": "en",
            "order_accounts-TOTAL_FORMS": "1",
            "order_accounts-0-account": str(account.pk),
            "order_accounts-0-role": "end_customer",
            "emails-TOTAL_FORMS": "1",
            "emails-0-email": "buyer@example.com",
            "lines-TOTAL_FORMS": "1",
            "lines-0-line_number": "1",
            "lines-0-product": str(product.pk),
            "lines-0-quantity": "1",
            "lines-0-requested_ship_date": LATER,
            "lines-0-renews_ssrn": "",
        }
    )


def _add_line(data, _obj):
    order = _order()
    data.update(
        {
            "order": str(order.pk),
            "line_number": "9",
            "product": str(ProductFactory().pk),
            "quantity": "4",
            "requested_ship_date": LATER,
            "renews_ssrn": "",
        }
    )


def _paper_entitlement():
    return EntitlementFactory(order_line__product__delivery_method="paper")


RECIPES: dict[str, Recipe] = {
    "accounts.User": Recipe(
        make=lambda: UserFactory(is_staff=True),
        change=lambda data, obj: data.update(name="Renamed"),
        change_action="user.updated",
        add=lambda data, obj: data.update(
            email="new.staff@keyship.example",
            name="New Staff",
            password1="a-long-Passphrase-9",
            password2="a-long-Passphrase-9",
        ),
        add_action="user.created",
    ),
    "accounts.Contact": Recipe(
        make=lambda: AccountAssociationFactory().contact,
        change=lambda data, obj: data.update(name="Renamed"),
        change_action="contact.updated",
        add=lambda data, obj: data.update(
            contact_id="C-NEW-1", email="new.contact@example.com", name="New", language="en"
        ),
        add_action="contact.created",
    ),
    "accounts.Account": Recipe(
        make=lambda: AccountAssociationFactory().account,
        change=lambda data, obj: data.update(name="Renamed Networks"),
        change_action="account.updated",
        add=lambda data, obj: data.update(account_id="0100777777", name="New", kind="customer"),
        add_action="account.created",
    ),
    "accounts.AccountAssociation": Recipe(
        make=AccountAssociationFactory,
        change=lambda data, obj: data.update(note="asked by phone"),
        change_action="account_association.updated",
        add=lambda data, obj: data.update(
            contact=str(ContactFactory().pk), account=str(AccountFactory().pk), note="new"
        ),
        add_action="account_association.created",
    ),
    "catalog.Product": Recipe(
        make=ProductFactory,
        change=lambda data, obj: data.update(name="Renamed product"),
        change_action="product.updated",
        add=lambda data, obj: data.update(
            sku="KS-NEW-1",
            name="New product",
            description="",
            delivery_method="jal",
            license_type="perpetual",
            term_months="",
            renews="",
            instructions_url="https://docs.keyship.example/new",
            is_active="on",
        ),
        add_action="product.created",
    ),
    "entitlements.Entitlement": Recipe(
        make=_paper_entitlement,
        change=lambda data, obj: data.update(
            paper_certificate_number="P-123", tracking_number="1Z999"
        ),
        change_action="entitlement.paper_delivery_recorded",
    ),
    "lms.LegacyKey": Recipe(
        make=LegacyKeyFactory,
        change=lambda data, obj: data.update(extra="{}"),
        change_action="legacy_keys.imported",
        add=lambda data, obj: data.update(
            product=str(ProductFactory(delivery_method="heritage_key").pk),
            license_key="NEW-LEGACY-KEY-0001",
            extra="{}",
        ),
        add_action="legacy_keys.imported",
    ),
    "orders.SalesOrder": Recipe(
        make=_order,
        change=lambda data, obj: data.update(language="de"),
        change_action="order.updated",
        add=_add_order,
        add_action="order.created",
    ),
    "orders.OrderLine": Recipe(
        make=lambda: _order().lines.get(),
        change=lambda data, obj: data.update(quantity="7"),
        change_action="order.updated",
        add=_add_line,
        add_action="order.updated",
    ),
    "outbox.WebhookEndpoint": Recipe(
        make=lambda: webhook_endpoint_create(
            url="https://93.184.215.14/hooks", events=["order.received"], actor=UserFactory()
        )[0],
        change=lambda data, obj: data.update(description="The ERP"),
        change_action="webhook_endpoint.updated",
        add=lambda data, obj: data.update(
            url="https://93.184.215.14/new", events=["line.shipped"], owner_email="a@b.example"
        ),
        add_action="webhook_endpoint.created",
    ),
    "api.ApiClient": Recipe(
        make=lambda: api_client_create(name="ERP", scopes=["orders:read"], actor=UserFactory())[0],
        change=lambda data, obj: data.update(scopes=["orders:read", "orders:write"]),
        change_action="api_client.updated",
        add=lambda data, obj: data.update(name="New ERP", scopes=["orders:read"]),
        add_action="api_client.created",
    ),
}

ADMINS = sorted(admin.site._registry.items(), key=lambda item: item[0]._meta.label)


def _user(role):
    if role == SUPERUSER:
        return UserFactory(is_staff=True, is_superuser=True)
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    return user


def _some_object(model):
    """One stored row of `model` for an admin without a recipe (its change permission may
    depend on the row)."""
    line = OrderLineFactory()
    OrderAccountFactory(order=line.order)
    OrderEmailFactory(order=line.order)
    entitlement = EntitlementFactory()
    activation = ActivationFactory(entitlement=entitlement)
    CertificateFactory(entitlement=entitlement)
    DeliveryFactory(shipment=entitlement.order_line.shipment)
    association = AccountAssociationFactory()
    AccessRequest.objects.create(
        contact=association.contact,
        requested_account_id=association.account.account_id,
        reason="partner",
    )
    RehostRequest.objects.create(
        activation=activation,
        new_serial_number="SN-REPLACEMENT",
        reason="RMA 4711",
        requested_by=association.contact.user,
    )
    return model._default_manager.first()


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _posted(client, url, recipe_step, obj):
    data = admin_form_data(client.get(url))
    recipe_step(data, obj)
    return client.post(url, data)


def _events_after(last_id):
    return list(AuditEvent.objects.filter(pk__gt=last_id).order_by("pk"))


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "model,model_admin", ADMINS, ids=[model._meta.label for model, _ in ADMINS]
)
def test_every_admin_save_goes_through_a_service_and_is_audited(client, role, model, model_admin):
    label = model._meta.label
    user = _user(role)
    client.force_login(user)
    request = RequestFactory().get("/")
    request.user = user
    recipe = RECIPES.get(label)
    obj = recipe.make() if recipe else _some_object(model)
    may_add = model_admin.has_add_permission(request)
    # With no row to ask about, whether the role may change rows of the model at all.
    may_change = model_admin.has_change_permission(request, obj)

    if label in PLAIN_CONFIGURATION:
        return
    if (may_add or may_change) and recipe is None:
        pytest.fail(
            f"{role} may {'add to' if may_add else 'change'} {label} in the admin: save it "
            "through a service and give it a recipe here, make it read-only, or (plain "
            "configuration only) put it on PLAIN_CONFIGURATION with why"
        )

    if may_add:
        assert recipe.add is not None, f"{label}: {role} may add; the recipe needs `add`"
        last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        response = _posted(client, _url(model, "add"), recipe.add, None)
        assert response.status_code == 302, _errors(response)
        events = _events_after(last)
        assert [(e.action, e.actor) for e in events if e.action == recipe.add_action] == [
            (recipe.add_action, user)
        ], [(e.action, e.actor) for e in events]
    else:
        assert client.post(_url(model, "add"), {}).status_code == 403

    if may_change:
        last = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        response = _posted(client, _url(model, "change", obj.pk), recipe.change, obj)
        assert response.status_code == 302, _errors(response)
        events = _events_after(last)
        assert [(e.action, e.actor) for e in events if e.action == recipe.change_action] == [
            (recipe.change_action, user)
        ], [(e.action, e.actor) for e in events]
    elif obj is not None:
        assert client.post(_url(model, "change", obj.pk), {}).status_code == 403


def _errors(response):
    context = getattr(response, "context", None)
    return context and context.get("errors")
