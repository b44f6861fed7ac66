"""Every admin action, on every kind of row it is offered for, by everyone it is offered to.

A convention test: it walks the admin site's registered models, the actions each offers to a
superuser and to each staff role, and posts each action through the changelist, as a person
would, on one row of each kind that the action's list can show (a Fulfillment Email and a
reminder digest; every status of a line, a certificate, an email; an entitlement of every
delivery method). Nothing may answer with a server error, and every action tells the person
what it did, in a message or on the page it answers with.

A model whose admin offers an action needs its row kinds in ROW_KINDS, so a new action or a
new admin is walked as soon as it exists.
"""

import datetime
from collections.abc import Callable

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.contrib import admin
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.contrib.messages import get_messages
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from apps.accounts.customer_admins import access_requests_decide_as_customer_admin
from apps.accounts.models import AccessRequest, AccessRequestStatus
from apps.accounts.models import AccountAssociation as AssociationModel
from apps.api.services import api_client_create
from apps.backoffice.roles import ROLES
from apps.catalog.models import DeliveryMethod
from apps.entitlements.activations import activations_create
from apps.entitlements.emails import license_keys_mail
from apps.entitlements.lifecycle import entitlement_revoke, entitlement_suspend
from apps.entitlements.models import CertificateStatus, Entitlement, RehostRequest
from apps.entitlements.rehosts import (
    activation_rehost,
    rehost_request_approve,
    rehost_request_create,
    rehost_request_deny,
)
from apps.fulfillment.services import order_lines_ship_now
from apps.notifications.selectors import shipment_deliveries
from apps.orders.models import LineStatus, OrderLine, SalesOrder
from apps.outbox.models import Delivery, DeliveryKind, DeliveryStatus
from apps.outbox.services import delivery_queue
from tests.factories.accounts import (
    AccountAssociationFactory,
    AccountFactory,
    ContactFactory,
    UserFactory,
)
from tests.factories.catalog import ProductFactory
from tests.factories.entitlements import ActivationFactory
from tests.factories.lms import LegacyKeyFactory
from tests.factories.notifications import DeliveryFactory, shipment_of
from tests.fulfillment.helpers import order_with_lines, today

pytestmark = pytest.mark.django_db

KEYED = {DeliveryMethod.HERITAGE_KEY, DeliveryMethod.LEGACY_LMS}


# Rows as the flow leaves them ------------------------------------------------------------


def _operator():
    return UserFactory(is_staff=True, is_superuser=True)


def _open_order(method=DeliveryMethod.JAL, *, subscription=False, keys=True, day=None):
    product = ProductFactory(delivery_method=method, subscription=subscription)
    if method in KEYED and keys:
        for _ in range(3):
            LegacyKeyFactory(product=product)
    return order_with_lines(dates=[day or today()], product=product)


def _open_line(method=DeliveryMethod.JAL, **kwargs) -> OrderLine:
    return _open_order(method, **kwargs).lines.get()


def _shipped(method=DeliveryMethod.JAL, *, subscription=False) -> Entitlement:
    line = _open_line(method, subscription=subscription)
    report = order_lines_ship_now(lines=[line], actor=_operator())
    assert report.shipped, f"a {method} line ships"
    return Entitlement.objects.get(order_line=line)


def _renewed() -> Entitlement:
    entitlement = _shipped(subscription=True)
    renewal_product = ProductFactory(subscription=True, renews=entitlement.product)
    end_customer = entitlement.entitlement_accounts.get(role="end_customer").account
    order = order_with_lines(dates=[today()], product=renewal_product, end_customer=end_customer)
    order.lines.update(renews_ssrn=entitlement.ssrn)
    report = order_lines_ship_now(lines=list(order.lines.all()), actor=_operator())
    assert report.shipped, "the renewal ships"
    return entitlement


def _line_in(status: str) -> OrderLine:
    if status == LineStatus.FULFILLED:
        return _shipped().order_line
    line = _open_line(day=today() + datetime.timedelta(days=30))
    line.status, line.status_reason = status, "" if status == LineStatus.OPEN else "a reason"
    line.save()
    return line


def _certificate_in(status: str):
    certificate = _shipped().certificates.get()
    certificate.status = status
    if status == CertificateStatus.RENDERING:
        certificate.lease_expires_at = timezone.now() + datetime.timedelta(minutes=5)
    if status == CertificateStatus.READY:
        certificate.rendered_at = timezone.now()
    if status == CertificateStatus.FAILED:
        certificate.last_error = "RuntimeError: the renderer gave up"
    certificate.save()
    return certificate


def _email_in(status: str) -> Delivery:
    delivery = shipment_deliveries(shipments=[_shipped().order_line.shipment]).first()
    return _with_status(delivery, status)


def _digest_in(status: str) -> Delivery:
    digest = DeliveryFactory(
        kind=DeliveryKind.REMINDER_DIGEST, topic=f"digest:{today().isoformat()}"
    )
    return _with_status(digest, status)


def _decision_email_in(status: str) -> Delivery:
    request = _access_request(decided="denied")
    delivery = delivery_queue(
        kind=DeliveryKind.ACCESS_DECISION,
        topic=f"access_request:{request.pk}",
        recipient=request.contact.email,
    )
    return _with_status(delivery, status)


def _keys_email_in(status: str) -> Delivery:
    entitlement = ActivationFactory().entitlement
    user = UserFactory()
    delivery = license_keys_mail(entitlement=entitlement, user=user, language="en", actor=user)
    return _with_status(delivery, status)


def _with_status(delivery: Delivery, status: str) -> Delivery:
    delivery.status = status
    delivery.sent_at = timezone.now() if status == DeliveryStatus.SENT else None
    if status == DeliveryStatus.SENDING:
        delivery.lease_expires_at = timezone.now() + datetime.timedelta(minutes=3)
    if status in (DeliveryStatus.RETRY, DeliveryStatus.FAILED):
        delivery.attempts, delivery.last_error = 3, "SMTPDataError: (451, b'try later')"
    delivery.save()
    return delivery


def _resent_email() -> Delivery:
    first = _email_in(DeliveryStatus.SENT)
    return DeliveryFactory(
        shipment=shipment_of(first), recipient=first.recipient, resend_of=first, reason="lost it"
    )


def _access_request(*, known=True, decided=None) -> AccessRequest:
    account = AccountFactory()
    request = AccessRequest.objects.create(
        contact=ContactFactory(),
        requested_account_id=account.account_id if known else "0199999999",
        account=account if known else None,
        reason="our partner",
    )
    if decided:
        request.status, request.decided_at = decided, timezone.now()
        request.save()
    return request


def _decided_by_customer_admin(*, approve: bool) -> AccessRequest:
    request = _access_request()
    admin = ContactFactory()
    AccountAssociationFactory(contact=admin, account=request.account, is_admin=True)
    access_requests_decide_as_customer_admin(
        request_ids=[request.pk], approve=approve, actor=admin.user
    )
    return request


def _asked_again(decided: str) -> AccessRequest:
    """A decided request whose contact has asked for the same account again since."""
    request = _access_request(decided=decided)
    AssociationModel.objects.filter(contact=request.contact).delete()
    AccessRequest.objects.create(
        contact=request.contact,
        requested_account_id=request.requested_account_id,
        account=request.account,
        reason="again",
    )
    return request


def _api_client(*, revoked=False):
    client, _token = api_client_create(
        name=f"ERP {timezone.now().timestamp()}", scopes=["orders:read"], actor=_operator()
    )
    if revoked:
        client.revoked_at = timezone.now()
        client.save()
    return client


def _axes_row(model):
    fields = {"user_agent": "a browser", "ip_address": "192.0.2.1", "username": "someone"}
    fields.update(http_accept="text/html", path_info="/admin/login/")
    if model is AccessAttempt:
        fields.update(get_data="", post_data="", failures_since_start=3)
    return lambda: model.objects.create(**fields)


def _sales_order_with_entitlement() -> SalesOrder:
    return _shipped().order_line.order


# Per model (its label): a name for each kind of row, and how to make one.
ROW_KINDS: dict[str, dict[str, Callable]] = {
    "outbox.Delivery": {
        **{
            f"Fulfillment Email, {status}": (lambda status=status: _email_in(status))
            for status in DeliveryStatus.values
        },
        **{
            f"reminder digest, {status}": (lambda status=status: _digest_in(status))
            for status in DeliveryStatus.values
        },
        "a resend of a Fulfillment Email": _resent_email,
        **{
            f"access decision, {status}": (lambda status=status: _decision_email_in(status))
            for status in (DeliveryStatus.SENT, DeliveryStatus.FAILED)
        },
        **{
            f"license keys, {status}": (lambda status=status: _keys_email_in(status))
            for status in (DeliveryStatus.SENT, DeliveryStatus.RETRY)
        },
        **{
            f"lifecycle notice, {status}": (lambda status=status: _lifecycle_notice_in(status))
            for status in (DeliveryStatus.SENT, DeliveryStatus.FAILED)
        },
    },
    "orders.OrderLine": {
        **{f"line {status}": (lambda status=status: _line_in(status)) for status in LineStatus},
        **{
            f"open line, {method}": (lambda method=method: _open_line(method))
            for method in DeliveryMethod.values
        },
        "open line, heritage_key, empty key pool": lambda: _open_line(
            DeliveryMethod.HERITAGE_KEY, keys=False
        ),
        "open line, subscription": lambda: _open_line(subscription=True),
        "open renewal line, nothing to renew": lambda: _with_renews(_open_line(subscription=True)),
    },
    "entitlements.Entitlement": {
        **{
            f"entitlement, {method}": (lambda method=method: _shipped(method))
            for method in DeliveryMethod.values
        },
        "subscription": lambda: _shipped(subscription=True),
        "renewed subscription": _renewed,
        "revoked entitlement": lambda: _revoked(_shipped()),
        "suspended entitlement": lambda: _suspended(_shipped()),
        "suspended subscription": lambda: _suspended(_shipped(subscription=True)),
        "revoked suspended entitlement": lambda: _revoked(_suspended(_shipped())),
    },
    "entitlements.Certificate": {
        f"certificate, {status}": (lambda status=status: _certificate_in(status))
        for status in CertificateStatus.values
    },
    "entitlements.Activation": {
        "live activation": lambda: ActivationFactory(entitlement=_shipped()),
        "rehosted activation": lambda: _rehosted().rehosted_from,
        "activation on a replacement device": lambda: _rehosted(),
        "revoked activation": lambda: ActivationFactory(
            entitlement=_shipped(), revoked_at=timezone.now(), revoke_reason="returned"
        ),
    },
    "entitlements.RehostRequest": {
        "pending rehost": lambda: _rehost_request(),
        "pending rehost of a suspended entitlement": lambda: _rehost_request(suspend=True),
        "approved rehost": lambda: _rehost_request(decide=rehost_request_approve),
        "denied rehost": lambda: _rehost_request(decide=rehost_request_deny),
    },
    "accounts.AccessRequest": {
        "pending": _access_request,
        "pending, no such account": lambda: _access_request(known=False),
        "approved": lambda: _access_request(decided=AccessRequestStatus.APPROVED),
        "denied": lambda: _access_request(decided=AccessRequestStatus.DENIED),
        "denied, no such account": lambda: _access_request(
            known=False, decided=AccessRequestStatus.DENIED
        ),
        "approved by a customer admin": lambda: _decided_by_customer_admin(approve=True),
        "denied by a customer admin": lambda: _decided_by_customer_admin(approve=False),
        "denied, asked again since": lambda: _asked_again(AccessRequestStatus.DENIED),
    },
    "api.ApiClient": {
        "live client": _api_client,
        "revoked client": lambda: _api_client(revoked=True),
    },
    "accounts.Account": {
        "account alone": AccountFactory,
        "account of an entitlement": lambda: (
            _shipped().entitlement_accounts.get(role="end_customer").account
        ),
    },
    "accounts.AccountAssociation": {
        "association": AccountAssociationFactory,
        "customer admin's association": lambda: AccountAssociationFactory(is_admin=True),
    },
    "accounts.Contact": {
        "contact alone": ContactFactory,
        "associated contact": lambda: AccountAssociationFactory().contact,
        "contact with an access request": lambda: _access_request().contact,
    },
    "accounts.User": {
        "staff member": lambda: UserFactory(is_staff=True),
        "portal user": lambda: ContactFactory().user,
    },
    "auth.Group": {"group": lambda: Group.objects.create(name=f"Group {timezone.now()}")},
    "catalog.Product": {
        "product alone": ProductFactory,
        "product with orders": lambda: _open_line().product,
        "product with a legacy key pool": lambda: LegacyKeyFactory().product,
    },
    "lms.LegacyKey": {
        "available key": LegacyKeyFactory,
        "assigned key": lambda: _shipped(DeliveryMethod.HERITAGE_KEY).legacy_keys.first(),
    },
    "orders.SalesOrder": {
        "open order": _open_order,
        "shipped order": _sales_order_with_entitlement,
    },
    "outbox.WebhookEndpoint": {
        "ERP endpoint": lambda: _webhook_endpoint(),
        "customer's endpoint": lambda: _webhook_endpoint([AccountFactory().account_id]),
        "disabled endpoint": lambda: _webhook_endpoint(disabled=True),
    },
    "axes.AccessAttempt": {"attempt": _axes_row(AccessAttempt)},
    "axes.AccessLog": {"log": _axes_row(AccessLog)},
    "axes.AccessFailureLog": {"failure": _axes_row(AccessFailureLog)},
}


def _webhook_endpoint(account_ids=(), *, disabled=False):
    from apps.outbox.endpoints import webhook_endpoint_create, webhook_endpoints_disable

    endpoint, _secret = webhook_endpoint_create(
        url="https://93.184.215.14/hooks",
        events=["entitlement.created"],
        account_ids=account_ids,
        actor=_operator(),
    )
    if disabled:
        webhook_endpoints_disable(endpoint_ids=[endpoint.pk], actor=_operator())
    return endpoint


def _with_renews(line: OrderLine) -> OrderLine:
    line.renews_ssrn = "XXXX-XXXX-XXXX"
    line.save()
    return line


def _revoked(entitlement: Entitlement) -> Entitlement:
    entitlement_revoke(entitlement_id=entitlement.pk, reason="contract ended", actor=_operator())
    entitlement.refresh_from_db()
    return entitlement


def _suspended(entitlement: Entitlement) -> Entitlement:
    entitlement_suspend(entitlement_id=entitlement.pk, reason="unpaid invoice", actor=_operator())
    entitlement.refresh_from_db()
    return entitlement


def _lifecycle_notice_in(status: str) -> Delivery:
    entitlement = _shipped()
    contact = ContactFactory(language="de")
    AccountAssociationFactory(
        contact=contact, account=entitlement.entitlement_accounts.first().account
    )
    _suspended(entitlement)
    return _with_status(Delivery.objects.filter(kind=DeliveryKind.LIFECYCLE_NOTICE).last(), status)


def _owned_activation():
    entitlement = _shipped()
    contact = ContactFactory()
    AccountAssociationFactory(
        contact=contact, account=entitlement.entitlement_accounts.first().account
    )
    (activation,) = activations_create(
        entitlement_id=entitlement.pk, serial_numbers=["SN-FAILED"], actor=_operator()
    )
    return contact, activation


def _rehosted():
    _contact, activation = _owned_activation()
    return activation_rehost(
        activation_id=activation.pk, new_serial_number="SN-NEW", reason="RMA", actor=_operator()
    )


def _rehost_request(*, suspend=False, decide=None):
    contact, activation = _owned_activation()
    request = rehost_request_create(
        activation_id=activation.pk,
        new_serial_number="SN-NEW",
        reason="RMA 4711",
        user=contact.user,
        language="de",
    )
    if suspend:
        _suspended(activation.entitlement)
    if decide:
        decide(request_id=request.pk, actor=_operator(), note="done")
    request.refresh_from_db()
    return request


# Who is offered what ---------------------------------------------------------------------

PEOPLE = ["superuser", *ROLES]


def _person(name: str):
    if name == "superuser":
        return UserFactory(is_staff=True, is_superuser=True)
    user = UserFactory(is_staff=True)
    user.groups.add(Group.objects.get(name=name))
    return user


def _offered(model_admin, user) -> set[str]:
    """The actions on the list this person sees (none where the list is closed to them)."""
    request = RequestFactory().get("/admin/")
    request.user = user
    if not model_admin.has_view_or_change_permission(request):
        return set()
    return set(model_admin.get_actions(request))


def _all_actions(model_admin) -> set[str]:
    """Every action the admin could offer anyone: its own and the site's (delete)."""
    superuser = UserFactory.build(is_staff=True, is_superuser=True, is_active=True)
    return _offered(model_admin, superuser)


ACTIONS = sorted(
    (model._meta.label, name)
    for model, model_admin in admin.site._registry.items()
    for name in _all_actions(model_admin)
)


def test_every_model_with_an_action_has_its_kinds_of_rows():
    models = {label for label, _action in ACTIONS}
    assert models <= set(ROW_KINDS), "add their kinds of rows to ROW_KINDS"


def _changelist(model) -> str:
    url = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
    # The access and rehost requests' lists open on the pending ones: decided rows are under
    # "All".
    return f"{url}?status=all" if model in (AccessRequest, RehostRequest) else url


def _run(client, model, action, row, capture, *, follow_up: bool):
    """Post the action on one row as the changelist does; a page that asks for a reason or a
    confirmation is answered, as a person answers it. With `follow_up`, what the action
    queues (a render, an email) runs too, as the worker would run it."""
    url = _changelist(model)
    data = {"action": action, helpers.ACTION_CHECKBOX_NAME: [row.pk], "index": 0}
    with capture(execute=follow_up):
        response = client.post(url, data)
    if response.status_code == 200 and _asks_to_go_on(response):
        answer = {**data, "confirm": "yes", "post": "yes", "reason": "asked by the customer"}
        with capture(execute=follow_up):
            response = client.post(url, answer)
    return response


def _asks_to_go_on(page) -> bool:
    """The page asks for a reason or a confirmation (not: says why it cannot be done)."""
    return b'name="confirm"' in page.content or b'name="post"' in page.content


def _explains_why_not(page) -> bool:
    """A deletion the person may not make: the page names what stands in the way."""
    text = page.content.decode()
    return "protected related objects" in text or "permission to delete" in text


@pytest.mark.parametrize(("label", "action"), ACTIONS, ids=[f"{m}.{a}" for m, a in ACTIONS])
def test_every_action_on_every_kind_of_row_answers_with_a_message(
    label, action, django_capture_on_commit_callbacks, mailoutbox
):
    model = next(m for m in admin.site._registry if m._meta.label == label)
    model_admin = admin.site._registry[model]
    tried = []
    for name in PEOPLE:
        person = _person(name)
        if action not in _offered(model_admin, person):
            continue
        client = Client()
        client.force_login(person)
        for kind, make in ROW_KINDS[label].items():
            row = make()
            where = f"{action} by {name} on {kind}"
            # The follow-up work is the same whoever asks for it: it runs once per kind.
            response = _run(
                client,
                model,
                action,
                row,
                django_capture_on_commit_callbacks,
                follow_up=name == "superuser",
            )
            said = [str(m) for m in get_messages(response.wsgi_request)]
            if response.status_code == 200 and action == "bulk":
                # The bulk action answers with the choice of its actions for the selection
                # (tests/backoffice/test_bulk_actions.py follows it to the end).
                assert b'name="selection"' in response.content, where
                assert response.context["choices"], where
            elif response.status_code == 200:
                # Only a deletion that would take rows along that the person may not delete
                # (or no one may) answers with a page instead of doing it.
                assert action == "delete_selected", where
                assert _explains_why_not(response), where
            else:
                assert response.status_code == 302, where
                assert said, f"{where}: no message"
            tried.append(where)
    assert tried, f"{label}: {action} is offered to no one"
