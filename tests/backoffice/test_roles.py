"""What Customer Care and Operations may do in the admin, as the migration made the groups."""

import pytest
from django.contrib.auth.models import Group
from django.urls import reverse

from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from tests.factories.accounts import AccountAssociationFactory, ContactFactory, UserFactory
from tests.factories.entitlements import EntitlementFactory
from tests.factories.lms import LegacyKeyFactory
from tests.factories.orders import OrderLineFactory
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db


def staff_client(client, role):
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=role))
    client.force_login(user)
    return client


def test_customer_care_edits_contacts_and_associations_and_reads_orders(client):
    care = staff_client(client, CUSTOMER_CARE)
    contact = ContactFactory()
    line = OrderLineFactory()

    assert care.get(reverse("admin:accounts_contact_change", args=[contact.pk])).status_code == 200
    assert care.get(reverse("admin:accounts_accountassociation_add")).status_code == 200
    order_page = care.get(reverse("admin:orders_salesorder_change", args=[line.order.pk]))
    assert order_page.status_code == 200
    assert b'name="_save"' not in order_page.content  # read only
    assert care.get(reverse("admin:orders_orderline_add")).status_code == 403
    assert care.get(reverse("admin:lms_legacykey_changelist")).status_code == 403


def test_operations_runs_orders_and_key_pools_but_not_associations(client):
    ops = staff_client(client, OPERATIONS)
    association = AccountAssociationFactory()
    LegacyKeyFactory()

    assert ops.get(reverse("admin:orders_salesorder_add")).status_code == 200
    assert ops.get(reverse("admin:lms_legacykey_changelist")).status_code == 200
    assert ops.get(reverse("admin:accounts_accountassociation_add")).status_code == 403
    page = ops.get(reverse("admin:accounts_contact_change", args=[association.contact.pk]))
    assert b'name="_save"' not in page.content


def test_only_customer_care_sees_activation_codes(client):
    entitlement = EntitlementFactory()
    url = reverse("admin:entitlements_entitlement_change", args=[entitlement.pk])
    code = entitlement.activation_code.encode()

    assert code in staff_client(client, CUSTOMER_CARE).get(url).content
    assert code not in staff_client(client, OPERATIONS).get(url).content


def test_a_member_without_a_role_sees_nothing(client):
    client.force_login(UserFactory(is_staff=True))

    assert client.get(reverse("admin:accounts_contact_changelist")).status_code == 403


def test_operations_cannot_add_an_address_to_an_order_that_would_receive_its_codes(client):
    # An order's addresses receive its activation codes when it ships: Operations, who may
    # not see codes, must not add its own address and then press "ship now".
    order = order_with_lines(dates=[today()])
    page = reverse("admin:orders_salesorder_change", args=[order.pk])

    ops_page = staff_client(client, OPERATIONS).get(page).content.decode()

    assert order.emails.exists()
    assert 'name="emails-0-email"' not in ops_page
    assert 'name="order_accounts-0-account"' not in ops_page
    superuser = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(superuser)
    assert 'name="emails-0-email"' in client.get(page).content.decode()
