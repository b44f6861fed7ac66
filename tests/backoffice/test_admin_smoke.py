"""Every admin page a member of staff can reach answers, for every registered model."""

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.accounts.models import AccessRequest
from apps.api.services import api_client_create
from apps.core import sealing
from apps.core.actors import Job
from apps.core.models import AuditEvent
from apps.entitlements.models import Activation, Certificate, Entitlement, RehostRequest
from apps.orders.models import Shipment
from apps.outbox.models import Delivery, WebhookEndpoint
from tests.factories.accounts import (
    AccountAssociationFactory,
    AccountFactory,
    ContactFactory,
    UserFactory,
)
from tests.factories.catalog import ProductFactory
from tests.factories.core import AuditEventFactory
from tests.factories.entitlements import (
    ActivationFactory,
    CertificateFactory,
    EntitlementAccountFactory,
)
from tests.factories.lms import LegacyKeyFactory
from tests.factories.notifications import DeliveryFactory
from tests.factories.orders import OrderAccountFactory, OrderEmailFactory, OrderLineFactory

pytestmark = pytest.mark.django_db

# Keyship's own admin pages; django-axes tests the lockout pages it brings.
MODELS = sorted(
    (model for model in admin.site._registry if model._meta.app_label != "axes"),
    key=lambda model: model._meta.label,
)


@pytest.fixture
def one_of_everything():
    association = AccountAssociationFactory()
    association.contact.user.name = "Alice"
    association.contact.user.save()
    line = OrderLineFactory()
    OrderAccountFactory(order=line.order)
    OrderEmailFactory(order=line.order)
    activation = ActivationFactory()
    EntitlementAccountFactory(entitlement=activation.entitlement)
    LegacyKeyFactory()
    CertificateFactory(entitlement=activation.entitlement)
    DeliveryFactory(shipment=activation.entitlement.order_line.shipment)
    WebhookEndpoint.objects.create(
        url="https://erp.example.com/keyship",
        events=["entitlement.created"],
        secret_sealed=sealing.seal("whsec_test"),
    )
    AuditEventFactory()
    asked = AccountFactory()
    AccessRequest.objects.create(
        contact=association.contact,
        requested_account_id=asked.account_id,
        account=asked,
        reason="partner",
    )
    AccessRequest.objects.create(
        contact=association.contact, requested_account_id="0100099999", reason="no such account"
    )
    RehostRequest.objects.create(
        activation=activation,
        new_serial_number="SN-REPLACEMENT",
        reason="RMA 4711",
        requested_by=association.contact.user,
    )
    ProductFactory()
    api_client_create(name="ERP", scopes=["orders:write"], actor=Job("create_api_client"))
    AccountFactory()
    ContactFactory()
    UserFactory()


def _url(model, view, *args):
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_changelist_and_search_answer(admin_client, one_of_everything, model):
    assert admin_client.get(_url(model, "changelist")).status_code == 200
    assert admin_client.get(_url(model, "changelist"), {"q": "0100000001"}).status_code == 200


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_add_page_answers_where_adding_is_allowed(admin_client, one_of_everything, model):
    # Entitlements, activations, access and rehost requests and audit events are written by services
    # only; the roles' groups come from the code.
    expected = (
        403
        if model
        in (
            Group,
            AuditEvent,
            Entitlement,
            Activation,
            Certificate,
            Delivery,
            Shipment,
            AccessRequest,
            RehostRequest,
        )
        else 200
    )

    assert admin_client.get(_url(model, "add")).status_code == expected


@pytest.mark.parametrize("model", MODELS, ids=lambda m: m._meta.label)
def test_change_page_answers(admin_client, one_of_everything, model):
    obj = model.objects.first()

    response = admin_client.get(_url(model, "change", obj.pk))

    assert response.status_code == 200


def test_the_index_offers_the_find_box(admin_client):
    response = admin_client.get(reverse("admin:index"))

    assert b'action="/admin/find/"' in response.content
