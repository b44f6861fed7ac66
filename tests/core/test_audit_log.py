"""Each audited action, by each way in: its event names who did it (a user, the API client by
name, the job or command by name) and, for a change, each field's old and new value."""

import datetime
import io
import json

import pytest
import time_machine
from django.core.management import call_command
from django.urls import reverse

from apps.accounts.models import AccessRequest
from apps.accounts.services import access_request_create, access_requests_decide
from apps.api.models import Scope
from apps.api.services import api_clients_revoke
from apps.catalog.models import DeliveryMethod
from apps.core.models import AuditEvent
from apps.core.services import field_changes
from apps.entitlements.activations import activations_revoke
from apps.entitlements.models import Activation, Certificate, CertificateStatus, Entitlement
from apps.entitlements.services import (
    certificate_reissue,
    certificates_retry,
    entitlement_paper_delivery_record,
)
from apps.fulfillment.services import order_lines_ship_now
from apps.fulfillment.tasks import fulfil_due_task
from apps.lms.models import LegacyKey
from apps.orders.models import OrderLine
from apps.orders.services import order_lines_transition
from apps.outbox.models import DeliveryStatus
from apps.outbox.services import deliveries_retry, delivery_resend
from tests.api.conftest import api, order_body
from tests.factories.accounts import UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.notifications import DeliveryFactory
from tests.fulfillment.helpers import order_with_lines, today
from tests.portal.helpers import entitlement_of, new_account, portal_contact

pytestmark = pytest.mark.django_db
ORDERS = reverse("api:orders")
SHIP_DAY = datetime.datetime(2026, 12, 1, 9, tzinfo=datetime.UTC)


def event(action: str, **filters) -> AuditEvent:
    return AuditEvent.objects.filter(action=action, **filters).latest("pk")


def who(action: str, **filters) -> tuple[str, str]:
    found = event(action, **filters)
    return found.actor_kind, found.actor_name


@pytest.fixture
def alice(db):
    return UserFactory(name="Alice Smith", is_staff=True)


# --- The field_changes helper --------------------------------------------------------------


def test_field_changes_gives_old_and_new_json_values_and_never_a_secret():
    before = {"requested_ship_date": datetime.date(2026, 12, 1), "quantity": 2, "token": "a"}
    after = {"requested_ship_date": datetime.date(2026, 12, 5), "quantity": 2, "token": "b"}

    changes = field_changes(before, after, ["requested_ship_date", "quantity", "token"])

    assert changes == {"requested_ship_date": {"old": "2026-12-01", "new": "2026-12-05"}}
    assert json.loads(json.dumps(changes)) == changes


# --- The ERP through the API -----------------------------------------------------------------


def test_an_order_posted_by_the_api_is_audited_as_the_client_for_the_call_and_the_order(products):
    erp = api(scopes=[Scope.ORDERS_WRITE, Scope.ORDERS_READ], name="ERP")

    created = erp.post(ORDERS, order_body(), format="json")
    body = order_body()
    body["lines"][1]["quantity"] = 5
    updated = erp.post(ORDERS, body, format="json")

    assert (created.status_code, updated.status_code) == (201, 200)
    client = erp.api_client
    for action in ("order.created", "order.updated"):
        found = event(action)
        assert (found.actor_kind, found.actor_name, found.actor_client_id) == (
            "api_client",
            "ERP",
            client.pk,
        )
        assert found.actor is None and found.actor_display == "ERP (API client)"
    calls = AuditEvent.objects.filter(action="api.call").order_by("pk")
    assert [(c.actor_kind, c.actor_name, c.actor_client_id) for c in calls] == [
        ("api_client", "ERP", client.pk)
    ] * 2


def test_the_api_s_line_changes_name_the_client_with_old_and_new_date_and_status(products):
    erp = api(scopes=[Scope.ORDERS_WRITE, Scope.ORDERS_READ], name="ERP")
    erp.post(ORDERS, order_body(), format="json")
    line = reverse("api:order-line", args=["SO-4711", 1])

    erp.patch(line, {"requested_ship_date": "2026-12-20"}, format="json")
    erp.post(f"{line}hold/", {"reason": "credit check"}, format="json")
    erp.post(f"{line}release/", {}, format="json")
    erp.post(f"{line}cancel/", {"reason": "order withdrawn"}, format="json")

    assert who("line.rescheduled") == ("api_client", "ERP")
    assert event("line.rescheduled").data == {
        "requested_ship_date": {"old": "2026-12-01", "new": "2026-12-20"}
    }
    assert {action: who(action) for action in ("line.hold", "line.release", "line.cancel")} == {
        "line.hold": ("api_client", "ERP"),
        "line.release": ("api_client", "ERP"),
        "line.cancel": ("api_client", "ERP"),
    }
    assert event("line.hold").data == {
        "status": {"old": "open", "new": "on_hold"},
        "status_reason": {"old": "", "new": "credit check"},
    }
    assert event("line.release").data == {
        "status": {"old": "on_hold", "new": "open"},
        "status_reason": {"old": "credit check", "new": ""},
    }
    assert event("line.cancel").data == {
        "status": {"old": "open", "new": "cancelled"},
        "status_reason": {"old": "", "new": "order withdrawn"},
    }


def test_products_and_accounts_sent_by_the_api_name_the_client_and_what_changed():
    erp = api(scopes=list(Scope.values), name="ERP")
    product = {"sku": "KS-NEW-1", "name": "New Thing", "delivery_method": "jal"}
    erp.post(reverse("api:products"), {"products": [product]}, format="json")
    erp.post(
        reverse("api:products"), {"products": [{**product, "name": "Newer Thing"}]}, format="json"
    )
    accounts = {
        "accounts": [{"account_id": "0100012345", "name": "Northwind", "kind": "customer"}],
        "contacts": [
            {
                "contact_id": "C-7",
                "email": "alice@northwind.example",
                "name": "Alice",
                "language": "en",
                "account_ids": ["0100012345"],
            }
        ],
    }
    erp.post(reverse("api:accounts"), accounts, format="json")
    accounts["accounts"][0]["name"] = "Northwind Networks"
    accounts["contacts"][0].update(email="alice@northwind.test", language="de")
    erp.post(reverse("api:accounts"), accounts, format="json")

    for action in (
        "product.created",
        "product.updated",
        "account.created",
        "account.updated",
        "contact.created",
        "contact.updated",
        "account_association.created",
    ):
        assert who(action) == ("api_client", "ERP"), action
    assert event("product.updated").data == {"name": {"old": "New Thing", "new": "Newer Thing"}}
    assert event("account.updated").data == {
        "name": {"old": "Northwind", "new": "Northwind Networks"}
    }
    assert event("contact.updated").data == {
        "email": {"old": "alice@northwind.example", "new": "alice@northwind.test"},
        "language": {"old": "en", "new": "de"},
    }


# --- Jobs and commands -----------------------------------------------------------------------


def test_the_sweep_task_and_the_command_ship_as_jobs_named_for_them():
    first = order_with_lines(dates=[today()])
    fulfil_due_task()
    second = order_with_lines(dates=[today()])
    call_command("fulfil_due", stdout=io.StringIO())

    assert who("line.fulfilled", target_id=str(first.lines.get().pk)) == ("job", "fulfil_due_task")
    assert who("line.fulfilled", target_id=str(second.lines.get().pk)) == ("job", "fulfil_due")
    assert event("line.fulfilled").actor_display == "fulfil_due (job)"


def test_the_import_commands_are_jobs_named_for_them_and_updates_show_old_and_new(tmp_path):
    catalog = tmp_path / "catalog.json"
    product = {"sku": "KS-FW", "name": "Firewall", "delivery_method": "jal"}
    catalog.write_text(json.dumps({"products": [product]}))
    call_command("import_catalog", str(catalog), stdout=io.StringIO())
    catalog.write_text(json.dumps({"products": [{**product, "description": "For one site."}]}))
    call_command("import_catalog", str(catalog), stdout=io.StringIO())
    accounts = tmp_path / "accounts.json"
    accounts.write_text(json.dumps({"accounts": [{"account_id": "0100012345", "name": "N"}]}))
    call_command("import_accounts", str(accounts), stdout=io.StringIO())
    orders = tmp_path / "orders.json"
    body = order_body(number="SO-1")
    body["lines"] = [{**body["lines"][0], "sku": "KS-FW"}]
    orders.write_text(json.dumps(body))
    call_command("import_orders", str(orders), stdout=io.StringIO())
    keys = tmp_path / "keys.csv"
    ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    keys.write_text("sku,license_key\nOLD-FW,SECRET-LEGACY-KEY-0001\n")
    call_command("import_legacy_keys", str(keys), stdout=io.StringIO())
    call_command("create_api_client", "ERP", stdout=io.StringIO(), stderr=io.StringIO())

    assert who("product.created") == ("job", "import_catalog")
    assert who("product.updated") == ("job", "import_catalog")
    assert event("product.updated").data == {"description": {"old": "", "new": "For one site."}}
    assert who("account.created") == ("job", "import_accounts")
    assert who("order.created") == ("job", "import_orders")
    assert who("legacy_keys.imported") == ("job", "import_legacy_keys")
    assert who("api_client.created") == ("job", "create_api_client")


def test_the_demo_seed_is_the_job_seed_demo():
    call_command("seed_demo", "--force", stdout=io.StringIO())

    # Except the story of a rehost: Alice asks in the portal, Customer Care approves.
    others = AuditEvent.objects.exclude(actor_kind="job", actor_name="seed_demo")
    assert sorted(others.values_list("actor_kind", "actor_name", "action")) == [
        ("staff", "Casey Care", "activation.rehosted"),
        ("staff", "Casey Care", "rehost_request.approved"),
        ("user", "Alice Moreau", "rehost_request.created"),
        ("user", "Alice Moreau", "rehost_request.created"),
    ]


# --- Staff in the admin ----------------------------------------------------------------------


def test_staff_changes_to_api_clients_are_audited_with_old_and_new_scopes(admin_client):
    erp = api(scopes=[Scope.ORDERS_READ], name="ERP")
    url = reverse("admin:api_apiclient_change", args=[erp.api_client.pk])
    admin_user = admin_client.get(url).wsgi_request.user

    admin_client.post(url, {"scopes": [Scope.ORDERS_READ, Scope.ORDERS_WRITE]})
    api_clients_revoke(client_ids=[erp.api_client.pk], actor=admin_user)

    updated = event("api_client.updated")
    assert (updated.actor, updated.actor_kind) == (admin_user, "staff")
    assert updated.data == {
        "scopes": {"old": ["orders:read"], "new": ["orders:read", "orders:write"]}
    }
    revoked = event("api_client.revoked")
    assert (revoked.actor, revoked.data["revoked_at"]["old"]) == (admin_user, None)
    assert revoked.data["revoked_at"]["new"]
    # Nothing of the token, in any form.
    stored = json.dumps(list(AuditEvent.objects.values("message", "data", "actor_name")))
    assert erp.token not in stored and erp.api_client.token_prefix not in stored


def test_operations_line_actions_and_ship_now_name_the_staff_member(alice):
    order = order_with_lines(dates=[today() + datetime.timedelta(days=9)] * 2)
    held, shipped = order.lines.order_by("line_number")

    order_lines_transition(line_ids=[held.pk], action="hold", actor=alice, reason="check")
    order_lines_ship_now(lines=[shipped], actor=alice)

    assert (event("line.hold").actor, event("line.hold").actor_display) == (
        alice,
        "Alice Smith (staff)",
    )
    assert event("line.hold").data["status"] == {"old": "open", "new": "on_hold"}
    assert event("line.fulfilled").actor == alice


def test_customer_care_actions_name_the_staff_member_and_what_changed(alice, admin_client):
    paper = entitlement_of(
        new_account(), product=ProductFactory(delivery_method=DeliveryMethod.PAPER)
    )
    entitlement_paper_delivery_record(
        entitlement=paper, certificate_number="PC-1", tracking_number="1Z-1", actor=alice
    )
    entitlement_paper_delivery_record(
        entitlement=paper, certificate_number="PC-1", tracking_number="1Z-2", actor=alice
    )
    certificate_reissue(entitlement=paper, actor=alice, reason="new address")
    failed = Certificate.objects.filter(entitlement=paper).latest("version")
    Certificate.objects.filter(pk=failed.pk).update(status=CertificateStatus.FAILED, attempts=5)
    certificates_retry(certificate_ids=[failed.pk], actor=alice)
    delivery = DeliveryFactory(status=DeliveryStatus.FAILED)
    delivery_resend(delivery=delivery, actor=alice, reason="lost")
    deliveries_retry(delivery_ids=[delivery.pk], actor=alice)

    for action in (
        "entitlement.paper_delivery_recorded",
        "certificate.reissued",
        "certificate.retried",
        "delivery.resent",
        "delivery.retried",
    ):
        assert who(action) == ("staff", "Alice Smith"), action
    assert event("entitlement.paper_delivery_recorded").data == {
        "tracking_number": {"old": "1Z-1", "new": "1Z-2"}
    }
    assert event("certificate.retried").data == {
        "certificate": failed.version,
        "status": {"old": "failed", "new": "queued"},
        "attempts": {"old": 5, "new": 0},
    }


def test_access_requests_name_the_contact_who_asked_and_the_staff_who_decided(alice):
    account = new_account()
    contact = portal_contact(email="bob@northwind.example")
    contact.user.name = "Bob Jones"
    contact.user.save()

    access_request_create(
        contact=contact, account_id=account.account_id, reason="my firm", actor=contact.user
    )
    access_requests_decide(request_ids=[AccessRequest.objects.get().pk], approve=True, actor=alice)

    assert who("access_request.created") == ("user", "Bob Jones")
    assert event("access_request.created").actor_display == "Bob Jones (portal user)"
    assert who("access_request.approved") == ("staff", "Alice Smith")


# --- Portal users ----------------------------------------------------------------------------


def test_activations_and_key_retrievals_name_the_portal_user_and_revokes_the_staff(client, alice):
    account = new_account()
    contact = portal_contact(account)
    entitlement = entitlement_of(account)
    product = ProductFactory(delivery_method=DeliveryMethod.LEGACY_LMS)
    LegacyKey.objects.create(product=product, license_key="LMS-KEY-0001")
    lms = entitlement_of(new_account(), product=product)
    client.force_login(contact.user)

    client.post(reverse("portal:activate", args=[entitlement.ssrn]), {"serial_numbers": "SN-1"})
    client.post(
        reverse("portal:legacy-keys"),
        {"authorization_code": lms.activation_code, "serial_number": "VPN-1"},
    )
    activations_revoke(
        activation_ids=[Activation.objects.get().pk], actor=alice, reason="device returned"
    )

    assert event("entitlement.activated").actor == contact.user
    assert event("entitlement.activated").actor_kind == "user"
    assert event("legacy_key.retrieved").actor == contact.user
    assert who("activation.revoked") == ("staff", "Alice Smith")


# --- The admin's audit list ------------------------------------------------------------------


def test_the_audit_list_shows_who_by_kind_and_name_filters_by_kind_and_searches_by_name(
    admin_client, alice, products
):
    erp = api(scopes=[Scope.ORDERS_WRITE], name="ERP")
    erp.post(ORDERS, order_body(), format="json")
    order_lines_transition(
        line_ids=[OrderLine.objects.get(line_number=1).pk], action="hold", actor=alice
    )
    with time_machine.travel(datetime.datetime(2027, 1, 16, 9, tzinfo=datetime.UTC)):
        fulfil_due_task()
    url = reverse("admin:core_auditevent_changelist")

    page = admin_client.get(url).content.decode()
    jobs = admin_client.get(url, {"actor_kind__exact": "job"}).content.decode()
    found = admin_client.get(url, {"q": "erp"}).content.decode()
    detail = admin_client.get(
        reverse("admin:core_auditevent_change", args=[event("order.created").pk])
    ).content.decode()

    for shown in ("Alice Smith (staff)", "ERP (API client)", "fulfil_due_task (job)"):
        assert shown in page
    assert "fulfil_due_task (job)" in jobs and "ERP (API client)" not in jobs
    assert "ERP (API client)" in found and "Alice Smith (staff)" not in found
    assert "fulfil_due_task" not in found
    assert "ERP (API client)" in detail


# --- No secret in any audit event --------------------------------------------------------------


def test_no_audit_event_of_a_whole_delivery_holds_a_code_a_key_or_a_token(
    client, alice, smtp, tmp_path
):
    jal = ProductFactory(sku="KS-FW-ADV", delivery_method=DeliveryMethod.JAL)
    ProductFactory(sku="KS-TD-1Y", delivery_method=DeliveryMethod.HERITAGE_KEY)
    lms = ProductFactory(sku="LMS-VPN", delivery_method=DeliveryMethod.LEGACY_LMS)
    keys = tmp_path / "keys.csv"
    keys.write_text(
        "sku,license_key\n"
        + "".join(f"KS-TD-1Y,HERITAGE-KEY-{n:04d}\n" for n in range(3))
        + "".join(f"LMS-VPN,LMS-KEY-{n:04d}\n" for n in range(3))
    )
    call_command("import_legacy_keys", str(keys), stdout=io.StringIO())
    erp = api(scopes=list(Scope.values), name="ERP")
    body = order_body(number="SO-9")
    body["lines"].append({**body["lines"][0], "line_number": 3, "sku": lms.sku})
    assert erp.post(ORDERS, body, format="json").status_code == 201
    with time_machine.travel(datetime.datetime(2027, 1, 16, 9, tzinfo=datetime.UTC)):
        fulfil_due_task()
    contact = portal_contact(*{a for e in Entitlement.objects.all() for a in e.accounts.all()})
    client.force_login(contact.user)
    entitlements = {e.product_id: e for e in Entitlement.objects.all()}
    client.post(
        reverse("portal:activate", args=[entitlements[jal.pk].ssrn]), {"serial_numbers": "SN-1"}
    )
    client.post(
        reverse("portal:legacy-keys"),
        {"authorization_code": entitlements[lms.pk].activation_code, "serial_number": "VPN-1"},
    )
    erp.get(reverse("api:entitlement", args=[entitlements[jal.pk].ssrn]))
    activations_revoke(activation_ids=[Activation.objects.get().pk], actor=alice, reason="gone")
    certificate_reissue(entitlement=entitlements[jal.pk], actor=alice, reason="again")

    secrets = {erp.token}
    for entitlement in Entitlement.objects.all():
        secrets |= {entitlement.activation_code, entitlement.activation_code.replace("-", "")}
    secrets |= {activation.license_key for activation in Activation.objects.all()}
    secrets |= {key.license_key for key in LegacyKey.objects.all()}
    assert len(secrets) > 10 and Activation.objects.exists()
    assert AuditEvent.objects.filter(action="line.fulfilled").count() == 3
    stored = json.dumps(
        list(AuditEvent.objects.values("message", "data", "actor_name", "target_id", "target_type"))
    )
    assert [secret for secret in secrets if secret and secret in stored] == []
