"""Who sees an activation code or a legacy key, on every surface: one table.

One world (entitlements of account A: a jal one with its activation code, a heritage_key one
with its legacy keys, a legacy_lms one whose activation code is its authorization code; their
shipment with its email deliveries and stored emails, rendered certificates, an activation,
audit events and history rows) is asked, as every role, for every surface; each answer is
"code" (an activation code in any form, or a legacy key, is in what the role receives), "no
code", or "refused". EXPECTED says which, for every pair.

Admin pages are found by walking the admin site's registry (changelist, search, the change
page and the history page of every row of the world), so a new admin, a new role or a new API
scope has no entry in EXPECTED and fails test_every_role_and_surface_has_an_expectation until
someone decides what it may show. The other surfaces are listed one small fetcher each, in
OTHER_SURFACES: a new one goes there, with its row in OTHER.
"""

import dataclasses
import datetime
import io
import json
import logging
from collections.abc import Callable
from urllib.parse import urlparse

import pytest
from django.contrib import admin
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client, TestCase
from django.urls import reverse
from pypdf import PdfReader

from apps.accounts.services import access_request_create
from apps.api.models import Scope
from apps.api.services import api_client_create
from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.catalog.models import DeliveryMethod
from apps.core import sealing
from apps.core.actors import Job
from apps.core.codes import new_activation_code
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Certificate, CertificateStatus
from apps.entitlements.rehosts import rehost_request_create
from apps.fulfillment.services import order_lines_fulfil_due
from apps.lms.services import legacy_keys_import
from apps.notifications.models import ShipmentEmail
from apps.orders.models import AccountRole
from apps.outbox.models import Channel, Delivery, DeliveryStatus, WebhookEndpoint
from tests.factories.accounts import AccountAssociationFactory, AccountFactory, UserFactory
from tests.factories.catalog import ProductFactory
from tests.factories.orders import (
    OrderAccountFactory,
    OrderEmailFactory,
    OrderLineFactory,
    SalesOrderFactory,
)

CODE, NO_CODE, REFUSED = "code", "no code", "refused"

# --- Roles ------------------------------------------------------------------------------

SUPERUSER = "superuser"
CARE = "Customer Care"
OPS = "Operations"
PORTAL_A = "portal user of account A"
PORTAL_B = "portal user of account B"
STAFF = (SUPERUSER, CARE, OPS)
PORTAL = (PORTAL_A, PORTAL_B)


def _api_role(*scopes: str) -> str:
    return "API client " + "+".join(scopes)


# An API client of each scope alone (a new scope is a new role), and the ERP's usual pair.
API_SCOPE_SETS = [(scope,) for scope in Scope.values] + [
    (Scope.ENTITLEMENTS_READ.value, Scope.ACTIVATION_CODES.value)
]
API = tuple(_api_role(*scopes) for scopes in API_SCOPE_SETS)
ROLES = (*STAFF, *PORTAL, *API)

API_READ = _api_role(Scope.ENTITLEMENTS_READ)
API_CODES = _api_role(Scope.ACTIVATION_CODES)
API_READ_CODES = _api_role(Scope.ENTITLEMENTS_READ, Scope.ACTIVATION_CODES)
API_ORDERS_READ = _api_role(Scope.ORDERS_READ)
API_ORDERS_WRITE = _api_role(Scope.ORDERS_WRITE)

# --- The world --------------------------------------------------------------------------

SERIAL = "FTX2231A0BC"
# Legacy keys are kept by the pool (sealed, perhaps): the test knows them from here only.
LEGACY_KEYS = ["LGK-Q7RD-22HW-0001", "LGK-Q7RD-22HW-0002", "LGK-Q7RD-22HW-0003"]


@dataclasses.dataclass
class World:
    users: dict  # role -> User, for the roles that sign in
    tokens: dict  # API role -> bearer token
    jal: object  # the entitlement with an activation code (account A)
    heritage: object  # the heritage_key entitlement with two legacy keys (account A)
    lms: object  # a legacy_lms entitlement: its activation code is an "authorization code"
    codes: list[str]  # every activation code in the world, in clear
    order: object
    contact_a: object
    mail: object  # the SMTP server's sink
    fulfillment_mail: list  # the messages the shipment sent
    rows: dict  # model -> the primary keys of its rows, as the world was built

    @property
    def secrets(self) -> dict[str, str]:
        """Each secret in lower case, by what it is; a text shows one when its lower case
        holds it. An activation code counts with its dashes and without."""
        found = {}
        for number, code in enumerate(self.codes, start=1):
            found[f"activation code {number} (grouped)"] = code.lower()
            found[f"activation code {number} (without dashes)"] = code.replace("-", "").lower()
        for number, key in enumerate(LEGACY_KEYS, start=1):
            found[f"legacy key {number}"] = key.lower()
        return found


def _staff(email: str, role: str | None = None, **fields):
    user = UserFactory(email=email, is_staff=True, **fields)
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


def build_world(*, mail, on_commit) -> World:
    superuser = _staff("root@keyship.example", is_superuser=True)
    care = _staff("care@keyship.example", CUSTOMER_CARE)
    ops = _staff("ops@keyship.example", OPERATIONS)
    # An endpoint of the ERP's, registered before the shipping: its
    # events (which carry no code) are on the outbox's pages.
    WebhookEndpoint.objects.create(
        url="https://erp.example.com/keyship",
        events=["entitlement.created"],
        secret_sealed=sealing.seal("whsec_exposure"),
    )

    account_a = AccountFactory(name="Northwind Networks")
    account_b = AccountFactory(name="Blue Harbor Integrators")
    contact_a = AccountAssociationFactory(
        account=account_a, contact__user__email="alice@northwind.example"
    ).contact
    contact_b = AccountAssociationFactory(
        account=account_b, contact__user__email="bob@blueharbor.example"
    ).contact
    # B asks to see A: a row of the access requests' admin.
    access_request_create(
        contact=contact_b, account_id=account_a.account_id, reason="partner", actor=contact_b.user
    )

    # A one-month subscription, so that the upcoming expiries list it.
    jal_product = ProductFactory(
        sku="KS-TD-1M", delivery_method=DeliveryMethod.JAL, subscription=True, term_months=1
    )
    key_product = ProductFactory(sku="OLD-FW", delivery_method=DeliveryMethod.HERITAGE_KEY)
    lms_product = ProductFactory(sku="OLD-LMS", delivery_method=DeliveryMethod.LEGACY_LMS)
    ProductFactory(  # its renewal, which an order may name with the SSRN it renews
        sku="KS-TD-1M-R",
        delivery_method=DeliveryMethod.JAL,
        subscription=True,
        term_months=1,
        renews=jal_product,
    )
    legacy_keys_import(
        text="sku,license_key\n" + "".join(f"OLD-FW,{key}\n" for key in LEGACY_KEYS), actor=ops
    )
    order = SalesOrderFactory(order_number="SO-7700001")
    OrderAccountFactory(order=order, account=account_a, role=AccountRole.END_CUSTOMER)
    OrderEmailFactory(order=order, email=contact_a.user.email)
    today = datetime.date.today()
    for number, product in enumerate([jal_product, key_product, lms_product], start=1):
        OrderLineFactory(
            order=order, line_number=number, product=product, quantity=2, requested_ship_date=today
        )
    with on_commit(execute=True):  # renders the certificates and stored emails, sends the email
        order_lines_fulfil_due(actor=Job("fulfil_due_task"))

    lines = {line.product.delivery_method: line for line in order.lines.all()}
    jal = lines[DeliveryMethod.JAL].entitlement
    heritage = lines[DeliveryMethod.HERITAGE_KEY].entitlement
    lms = lines[DeliveryMethod.LEGACY_LMS].entitlement
    (activation,) = activations_create(
        entitlement_id=jal.pk, serial_numbers=[SERIAL], actor=contact_a.user
    )
    # A's contact asks to move the device to a replacement: a row of the rehost requests.
    rehost_request_create(
        activation_id=activation.pk,
        new_serial_number="FTX2231A0ZZ",
        reason="RMA: the power supply failed",
        user=contact_a.user,
        language="en",
    )
    # What the world must hold for its surfaces to mean something.
    assert Certificate.objects.filter(status=CertificateStatus.READY).count() == 3
    emails = Delivery.objects.filter(channel=Channel.EMAIL)
    assert set(emails.values_list("status", flat=True)) == {DeliveryStatus.SENT}
    assert ShipmentEmail.objects.exists()
    assert heritage.legacy_keys.count() == 2

    tokens = {}
    for scopes in API_SCOPE_SETS:
        _, tokens[_api_role(*scopes)] = api_client_create(
            name=_api_role(*scopes), scopes=list(scopes), actor=superuser
        )

    # The right password, then a wrong one, at the portal's login: django-axes' rows (a
    # success would clear the failure's).
    for password in ["password", "wrong"]:
        Client().post(reverse("login"), {"username": contact_b.user.email, "password": password})

    rows = {
        model: list(model._default_manager.order_by("pk").values_list("pk", flat=True))
        for model in admin.site._registry
    }
    # History rows: an admin change of every row of the world, as the history pages list them.
    for model, pks in rows.items():
        if pks:
            LogEntry.objects.log_actions(
                user_id=superuser.pk,
                queryset=model._default_manager.filter(pk__in=pks),
                action_flag=CHANGE,
                change_message="Checked.",
            )
    return World(
        users={
            SUPERUSER: superuser,
            CARE: care,
            OPS: ops,
            PORTAL_A: contact_a.user,
            PORTAL_B: contact_b.user,
        },
        tokens=tokens,
        jal=jal,
        heritage=heritage,
        lms=lms,
        codes=[jal.activation_code, heritage.activation_code, lms.activation_code],
        order=order,
        contact_a=contact_a,
        mail=mail,
        fulfillment_mail=list(mail.messages),
        rows=rows,
    )


def client_of(role: str, world: World) -> Client:
    if role in world.tokens:
        return Client(headers={"authorization": f"Bearer {world.tokens[role]}"})
    client = Client()
    client.force_login(world.users[role])
    return client


# --- What a role receives ---------------------------------------------------------------


@dataclasses.dataclass
class Seen:
    """What a role got: refused, or an answer (its status) with the text it carries."""

    status: int
    text: str = ""
    refused: bool = False
    problem: str = ""  # the surface could not be asked (e.g. the world lacks its row)


LOGIN_PATHS = ("/admin/login/", "/account/login/")


def _seen(response) -> Seen:
    """Refused: 401, 403, 404, or sent to a login page. Another 4xx or 5xx is neither answer
    nor refusal, and fails its cell with its status."""
    status = response.status_code
    if status in (401, 403, 404):
        return Seen(status, refused=True)
    if status in (301, 302, 303, 307, 308):
        if urlparse(response["Location"]).path in LOGIN_PATHS:
            return Seen(status, refused=True)
        return Seen(status)
    if status >= 400:
        return Seen(status, problem=f"answered {status}")
    if getattr(response, "streaming", False):
        body = b"".join(response.streaming_content)
    else:
        body = response.content
    if body.startswith(b"%PDF"):
        return Seen(status, pdf_text(body))
    return Seen(status, body.decode("utf-8", "replace"))


def pdf_text(data: bytes) -> str:
    """A PDF's text, page by page, and its metadata (title, subject, ...)."""
    reader = PdfReader(io.BytesIO(data))
    metadata = [str(value) for value in (reader.metadata or {}).values()]
    return "\n".join([*metadata, *(page.extract_text() for page in reader.pages)])


def message_text(message) -> str:
    """A received email as its reader sees it: headers, every part, the attachments (PDFs
    as their text)."""
    parts = [str(value) for value in message.values()]
    for part in message.walk():
        if part.is_multipart():
            continue
        content = part.get_content()
        if isinstance(content, bytes):
            content = pdf_text(content) if content.startswith(b"%PDF") else content.decode()
        parts.append(content)
    return "\n".join(parts)


def _together(seen: list[Seen]) -> Seen:
    """Several pages of one surface (the change pages of every row) as one answer."""
    problems = [s.problem for s in seen if s.problem]
    if problems:
        return Seen(0, problem="; ".join(sorted(set(problems))))
    if not seen:
        return Seen(0, problem="the world has no row here: add one to build_world")
    if all(s.refused for s in seen):
        return Seen(seen[0].status, refused=True)
    if any(s.refused for s in seen):
        return Seen(0, problem="refused some rows and answered others")
    return Seen(200, "\n".join(s.text for s in seen))


Fetch = Callable[[Client, World, str], Seen]


@dataclasses.dataclass(frozen=True)
class Surface:
    name: str
    fetch: Fetch


def _loosely(code: str) -> str:
    """A code typed the way a person might: lower case, groups apart. The check does not
    count this form, so the search box's echo of what was typed is not taken for a leak."""
    return code.replace("-", " ").lower()


# Admin pages of every registered model, from the registry.
def _admin_url(model, view: str, *args) -> str:
    return reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_{view}", args=args)


def _changelist(model) -> Fetch:
    return lambda client, world, role: _seen(client.get(_admin_url(model, "changelist")))


def _search(model) -> Fetch:
    # What Customer Care types most: the SSRN the customer reads out.
    return lambda client, world, role: _seen(
        client.get(_admin_url(model, "changelist"), {"q": world.jal.ssrn})
    )


def _each_row(model, view: str) -> Fetch:
    def fetch(client, world, role):
        return _together(
            [_seen(client.get(_admin_url(model, view, pk))) for pk in world.rows[model]]
        )

    return fetch


def admin_models() -> list:
    return sorted(admin.site._registry, key=lambda model: model._meta.label_lower)


def admin_surfaces() -> list[Surface]:
    surfaces = []
    for model in admin_models():
        label = model._meta.label_lower
        surfaces += [
            Surface(f"admin changelist {label}", _changelist(model)),
            Surface(f"admin search {label}", _search(model)),
            Surface(f"admin change {label}", _each_row(model, "change")),
            Surface(f"admin history {label}", _each_row(model, "history")),
        ]
    return surfaces


# The rest, one small fetcher each.
def _get(url: Callable[[World], str], **params) -> Fetch:
    return lambda client, world, role: _seen(client.get(url(world), params, follow=False))


def _found(seen: Seen, world: World, *, box: str) -> Seen:
    """A search that answers without the entitlement it names searched nothing (a box that
    reads another method or field): say so rather than count its page as "no code"."""
    if seen.refused or seen.problem or world.jal.ssrn in seen.text:
        return seen
    return Seen(seen.status, problem=f"{box} found nothing (does it read a POSTed q?)")


def _find(term: Callable[[World], str], *, found_by: tuple[str, ...]) -> Fetch:
    # The Find box is a POST (the code stays out of URLs and logs); the test client
    # does not enforce CSRF.
    def fetch(client, world, role):
        seen = _seen(client.post(reverse("admin:find"), {"q": term(world)}))
        return _found(seen, world, box="the Find box") if role in found_by else seen

    return fetch


def _portal_search(term: Callable[[World], str]) -> Fetch:
    # A POST too; the user of A finds the one entitlement, and not the other.
    def fetch(client, world, role):
        # The search posts, then lands on the list under a kept search's name.
        response = client.post(reverse("portal:entitlements"), {"q": term(world)})
        seen = _seen(response)
        if response.status_code == 302 and not seen.refused:
            seen = _seen(client.get(response["Location"]))
        if role != PORTAL_A:
            return seen
        seen = _found(seen, world, box="the portal's search")
        if not seen.problem and world.heritage.ssrn in seen.text:
            return Seen(seen.status, problem="the portal's search did not filter")
        return seen

    return fetch


def _certificate_admin(entitlement: str) -> Fetch:
    def fetch(client, world, role):
        certificate = getattr(world, entitlement).certificates.get()
        return _seen(
            client.get(reverse("admin:entitlements_certificate_download", args=[certificate.pk]))
        )

    return fetch


def _keys_by_email(client, world, role) -> Seen:
    before = len(world.mail.messages)
    seen = _seen(client.post(reverse("portal:keys-email", args=[world.jal.ssrn])))
    if seen.refused or seen.problem:
        return seen
    return Seen(seen.status, "\n".join(message_text(m) for m in world.mail.messages[before:]))


RENEWAL_ORDER = "SO-7799999"


def _own_address(role: str, world: World) -> str:
    user = world.users.get(role)
    return user.email if user else role.replace(" ", "-").replace(":", "-") + "@erp.example"


def _renewal_order(world: World, address: str) -> dict:
    """An order, as the ERP or an import file sends it, renewing the entitlement of A by
    its SSRN (which is not a secret) for another account, to the sender's own address."""
    return {
        "order_number": RENEWAL_ORDER,
        "language": "en",
        "accounts": [{"account_id": "0199999999", "name": "Elsewhere", "role": "end_customer"}],
        "emails": [address],
        "lines": [
            {
                "line_number": 1,
                "sku": "KS-TD-1M-R",
                "quantity": 1,
                "requested_ship_date": datetime.date.today().isoformat(),
                "renews_ssrn": world.jal.ssrn,
            }
        ],
    }


def _renewal_to_self(client, world, role) -> Seen:
    """The role orders a renewal of A's subscription to its own address, the way it can
    (an API client posts it, staff import it), the sweep ships it, and its mailbox is read.
    All of it is rolled back, so the world stays as it was for the other surfaces."""
    address = _own_address(role, world)
    before = len(world.mail.messages)
    body = _renewal_order(world, address)
    with transaction.atomic():
        with TestCase.captureOnCommitCallbacks(execute=True):
            if role in world.tokens:
                response = client.post(reverse("api:orders"), body, content_type="application/json")
            else:
                response = client.post(
                    reverse("admin:bulk_import"),
                    {"kind": "orders", "name": "renewal.json", "text": json.dumps(body)},
                )
                if response.status_code == 200:
                    response = client.post(
                        reverse("admin:bulk_import"),
                        {
                            "kind": "orders",
                            "name": "renewal.json",
                            "text": json.dumps(body),
                            "confirm": "1",
                        },
                    )
            seen = _seen(response)
            if response.status_code == 400:
                # Refused at intake with the field's path: nothing ships, nothing is sent.
                seen = Seen(400, "")
            if not seen.refused and not seen.problem:
                # as the sweep would, a minute later
                order_lines_fulfil_due(actor=Job("fulfil_due_task"))
        transaction.set_rollback(True)
    if seen.refused or seen.problem:
        return seen
    received = [m for m in world.mail.messages[before:] if m["X-Envelope-To"] == address]
    return Seen(seen.status, "\n".join(message_text(m) for m in received))


def _mailbox(client, world, role) -> Seen:
    """The Fulfillment Emails that reached the role's address."""
    user = world.users.get(role)
    address = user.email if user else None
    received = [m for m in world.fulfillment_mail if m["X-Envelope-To"] == address]
    return Seen(200, "\n".join(message_text(m) for m in received))


def _portal(name: str, entitlement: str) -> Callable[[World], str]:
    return lambda world: reverse(name, args=[getattr(world, entitlement).ssrn])


def _api(name: str, entitlement: str | None = None) -> Callable[[World], str]:
    if entitlement is None:
        return lambda world: reverse(name)
    return lambda world: reverse(name, args=[getattr(world, entitlement).ssrn])


OTHER_SURFACES = [
    Surface("admin index", _get(lambda w: reverse("admin:index"))),
    Surface("admin dashboard", _get(lambda w: reverse("admin:dashboard"))),
    Surface("admin Find by SSRN", _find(lambda w: w.jal.ssrn, found_by=STAFF)),
    Surface("admin Find by order number", _find(lambda w: w.order.order_number, found_by=STAFF)),
    Surface(
        "admin Find by activation code",
        _find(lambda w: _loosely(w.jal.activation_code), found_by=(SUPERUSER, CARE)),
    ),
    Surface(
        "admin who sees what",
        lambda client, world, role: _seen(
            client.get(
                reverse("admin:visibility"),
                {"contact": world.contact_a.contact_id, "ssrn": world.jal.ssrn},
            )
        ),
    ),
    Surface(
        "admin upcoming expiries",
        _get(lambda w: reverse("admin:upcoming_expiries"), within="60"),
    ),
    Surface("admin certificate download jal", _certificate_admin("jal")),
    Surface("admin certificate download heritage_key", _certificate_admin("heritage")),
    Surface("admin certificate download legacy_lms", _certificate_admin("lms")),
    Surface("portal entitlement list", _get(lambda w: reverse("portal:entitlements"))),
    Surface("portal search by SSRN", _portal_search(lambda w: w.jal.ssrn)),
    Surface(
        "portal search by activation code",
        _portal_search(lambda w: _loosely(w.jal.activation_code)),
    ),
    Surface("portal CSV export", _get(lambda w: reverse("portal:entitlements"), format="csv")),
    Surface("portal entitlement page jal", _get(_portal("portal:entitlement", "jal"))),
    Surface(
        "portal entitlement page heritage_key", _get(_portal("portal:entitlement", "heritage"))
    ),
    Surface("portal entitlement page legacy_lms", _get(_portal("portal:entitlement", "lms"))),
    Surface("portal certificate download jal", _get(_portal("portal:certificate", "jal"))),
    Surface("portal certificate download legacy_lms", _get(_portal("portal:certificate", "lms"))),
    Surface(
        "portal certificate download heritage_key",
        _get(_portal("portal:certificate", "heritage")),
    ),
    Surface("portal key file jal", _get(_portal("portal:keys", "jal"))),
    Surface("portal key file heritage_key", _get(_portal("portal:keys", "heritage"))),
    Surface("portal license keys by email jal", _keys_by_email),
    Surface("public verify page", _get(_portal("entitlement-verify", "jal"))),
    Surface("Fulfillment Email received", _mailbox),
    Surface("Fulfillment Email of a renewal ordered to one's own address", _renewal_to_self),
    Surface("API entitlement list", _get(_api("api:entitlements"))),
    Surface("API entitlement jal", _get(_api("api:entitlement", "jal"))),
    Surface("API entitlement heritage_key", _get(_api("api:entitlement", "heritage"))),
    Surface("API order", _get(lambda w: reverse("api:order", args=[w.order.order_number]))),
]


def surfaces() -> list[Surface]:
    return admin_surfaces() + OTHER_SURFACES


# --- The expected matrix ----------------------------------------------------------------


def staff_only(superuser: str, care: str, ops: str) -> dict[str, str]:
    """An admin page: the staff as given; portal users and API clients (no staff session)
    are sent to the admin's login."""
    return {SUPERUSER: superuser, CARE: care, OPS: ops} | {role: REFUSED for role in PORTAL + API}


def signed_in(a: str, b: str, staff: str) -> dict[str, str]:
    """A portal page: the portal users as given, staff (signed in, with no contact, so they
    see no entitlement) as given; API clients have no session and are sent to the login."""
    return {PORTAL_A: a, PORTAL_B: b} | {role: staff for role in STAFF} | {r: REFUSED for r in API}


def api_only(by_client: dict[str, str]) -> dict[str, str]:
    """An API answer: each API client as given; people have no token and get 401."""
    return {role: REFUSED for role in STAFF + PORTAL} | by_client


# The scopes that have nothing to do with entitlements or orders, named one by one: a new
# scope is not among them until someone decides it belongs here.
UNRELATED_API = tuple(
    _api_role(scope)
    for scope in (
        Scope.ORDERS_WRITE,
        Scope.CATALOG_WRITE,
        Scope.ACCOUNTS_WRITE,
        Scope.ACCOUNTS_ASSOCIATE,
        # Webhook events carry no code or key (tests/webhooks checks every event of a ship).
        Scope.WEBHOOKS_MANAGE,
        # Suspend, reinstate and revoke answer the entitlement as the reading scope shows it,
        # with its code only for a client that also holds entitlements:codes
        # (tests/api/test_entitlement_lifecycle.py checks); alone it reads nothing.
        Scope.ENTITLEMENTS_MANAGE,
    )
)
# The entitlements' answers: codes only with the codes scope (which alone reads nothing).
API_ENTITLEMENT = api_only(
    {API_READ: NO_CODE, API_READ_CODES: CODE, API_CODES: REFUSED, API_ORDERS_READ: REFUSED}
    | dict.fromkeys(UNRELATED_API, REFUSED)
)

NONE_SEE = staff_only(NO_CODE, NO_CODE, NO_CODE)
SUPERUSER_ONLY = staff_only(NO_CODE, REFUSED, REFUSED)

ADMIN_VIEWS = ("changelist", "search", "change", "history")


def every_view(by_role: dict[str, str]) -> dict[str, dict[str, str]]:
    return dict.fromkeys(ADMIN_VIEWS, by_role)


# Admin pages per model: changelist, search, change pages, history pages.
ADMIN = {
    "auth.group": every_view(SUPERUSER_ONLY),
    "accounts.user": every_view(SUPERUSER_ONLY),
    "accounts.contact": every_view(NONE_SEE),
    "accounts.account": every_view(NONE_SEE),
    "accounts.accountassociation": every_view(staff_only(NO_CODE, NO_CODE, REFUSED)),
    "accounts.accessrequest": every_view(NONE_SEE),
    "api.apiclient": every_view(SUPERUSER_ONLY),
    "axes.accessattempt": every_view(SUPERUSER_ONLY),
    "axes.accessfailurelog": every_view(SUPERUSER_ONLY),
    "axes.accesslog": every_view(SUPERUSER_ONLY),
    "catalog.product": every_view(NONE_SEE),
    "core.auditevent": every_view(NONE_SEE),
    "entitlements.activation": every_view(NONE_SEE),
    "entitlements.certificate": every_view(NONE_SEE),
    # Rehost requests are Customer Care's to decide: Operations does not see them.
    "entitlements.rehostrequest": every_view(staff_only(NO_CODE, NO_CODE, REFUSED)),
    "entitlements.entitlement": {
        "changelist": NONE_SEE,
        "search": NONE_SEE,
        # The page shows the code to those with view_activation_code only.
        "change": staff_only(CODE, CODE, NO_CODE),
        "history": NONE_SEE,
    },
    "lms.legacykey": {
        # Lists show keys masked; the change page shows a key in its pool whole to who keeps
        # the pools, and a key handed out whole only to who may see codes.
        "changelist": staff_only(NO_CODE, REFUSED, NO_CODE),
        "search": staff_only(NO_CODE, REFUSED, NO_CODE),
        "change": staff_only(CODE, REFUSED, CODE),
        "history": staff_only(NO_CODE, REFUSED, NO_CODE),
    },
    "outbox.delivery": every_view(NONE_SEE),
    "outbox.webhookendpoint": every_view(NONE_SEE),
    "orders.orderline": every_view(NONE_SEE),
    "orders.salesorder": every_view(NONE_SEE),
    "orders.shipment": every_view(NONE_SEE),
}

OTHER = {
    "admin index": NONE_SEE,
    "admin dashboard": NONE_SEE,
    "admin Find by SSRN": NONE_SEE,
    "admin Find by order number": NONE_SEE,
    "admin Find by activation code": NONE_SEE,
    # Both halves need entitlements and contacts: Operations views both.
    "admin who sees what": NONE_SEE,
    "admin upcoming expiries": NONE_SEE,
    # The PDF carries the code: only staff who may see codes download it.
    "admin certificate download jal": staff_only(CODE, CODE, REFUSED),
    "admin certificate download heritage_key": staff_only(NO_CODE, NO_CODE, REFUSED),
    # Its authorization code is the activation code.
    "admin certificate download legacy_lms": staff_only(CODE, CODE, REFUSED),
    "portal entitlement list": signed_in(NO_CODE, NO_CODE, staff=NO_CODE),
    "portal search by SSRN": signed_in(NO_CODE, NO_CODE, staff=NO_CODE),
    "portal search by activation code": signed_in(NO_CODE, NO_CODE, staff=NO_CODE),
    "portal CSV export": signed_in(NO_CODE, NO_CODE, staff=NO_CODE),
    "portal entitlement page jal": signed_in(CODE, REFUSED, staff=REFUSED),
    # Its legacy keys, to install; a heritage_key product shows no activation code.
    "portal entitlement page heritage_key": signed_in(CODE, REFUSED, staff=REFUSED),
    "portal entitlement page legacy_lms": signed_in(CODE, REFUSED, staff=REFUSED),
    "portal certificate download jal": signed_in(CODE, REFUSED, staff=REFUSED),
    "portal certificate download legacy_lms": signed_in(CODE, REFUSED, staff=REFUSED),
    "portal certificate download heritage_key": signed_in(NO_CODE, REFUSED, staff=REFUSED),
    # The signed keys of the devices; no activation code.
    "portal key file jal": signed_in(NO_CODE, REFUSED, staff=REFUSED),
    "portal key file heritage_key": signed_in(CODE, REFUSED, staff=REFUSED),
    "portal license keys by email jal": signed_in(NO_CODE, REFUSED, staff=REFUSED),
    "public verify page": dict.fromkeys(ROLES, NO_CODE),
    # Sent to the order's address (A's contact), to nobody else.
    "Fulfillment Email received": dict.fromkeys(ROLES, NO_CODE) | {PORTAL_A: CODE},
    # An SSRN is no secret and an order's addresses are what its sender writes: whoever may
    # send orders must not get the code of the subscription a renewal names. Customer Care
    # sends none; portal users and the other API clients may not.
    "Fulfillment Email of a renewal ordered to one's own address": api_only(
        {API_ORDERS_WRITE: NO_CODE, API_ORDERS_READ: REFUSED, API_READ: REFUSED}
        | {API_CODES: REFUSED, API_READ_CODES: REFUSED}
        | {
            _api_role(scope): REFUSED
            for scope in (
                Scope.CATALOG_WRITE,
                Scope.ACCOUNTS_WRITE,
                Scope.ACCOUNTS_ASSOCIATE,
                Scope.WEBHOOKS_MANAGE,
                Scope.ENTITLEMENTS_MANAGE,
            )
        }
    )
    | {SUPERUSER: NO_CODE, OPS: NO_CODE},
    "API entitlement list": API_ENTITLEMENT,
    "API entitlement jal": API_ENTITLEMENT,
    # Every entitlement has a code, a heritage one too: the codes scope shows it.
    "API entitlement heritage_key": API_ENTITLEMENT,
    "API order": api_only(
        {API_ORDERS_READ: NO_CODE, API_READ: REFUSED, API_READ_CODES: REFUSED, API_CODES: REFUSED}
        | dict.fromkeys(UNRELATED_API, REFUSED)
    ),
}


def expected_matrix() -> dict[tuple[str, str], str]:
    matrix = {}
    for label, views in ADMIN.items():
        for view, by_role in views.items():
            for role, outcome in by_role.items():
                matrix[(role, f"admin {view} {label}")] = outcome
    for surface, by_role in OTHER.items():
        for role, outcome in by_role.items():
            matrix[(role, surface)] = outcome
    return matrix


EXPECTED = expected_matrix()


# --- The tests --------------------------------------------------------------------------


def test_every_role_and_surface_has_an_expectation():
    """A new admin, surface, role or API scope fails here until EXPECTED says what it may
    show; an entry for something that is gone fails too."""
    wanted = {(role, surface.name) for role in ROLES for surface in surfaces()}

    missing = sorted(wanted - set(EXPECTED))
    stale = sorted(set(EXPECTED) - wanted)

    assert not missing, "no expectation for:\n" + "\n".join(map(str, missing))
    assert not stale, "expectations for what no longer exists:\n" + "\n".join(map(str, stale))
    assert set(EXPECTED.values()) <= {CODE, NO_CODE, REFUSED}


def outcome(seen: Seen, world: World) -> tuple[str, list[str]]:
    if seen.problem:
        return f"a problem: {seen.problem}", []
    if seen.refused:
        return REFUSED, []
    text = seen.text.lower()
    shown = [name for name, secret in world.secrets.items() if secret in text]
    return (CODE if shown else NO_CODE), shown


class LogText(logging.Handler):
    """Every line the processes log, as the root logger's handlers would write it; the test's
    own SMTP server (mail.log) is not Keyship."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(name)s %(message)s"))
        self.lines: list[str] = []

    def emit(self, record):
        if not record.name.startswith("mail.log"):
            self.lines.append(self.format(record))


@pytest.mark.django_db
def test_each_role_sees_codes_and_keys_only_where_the_matrix_says(
    smtp, django_capture_on_commit_callbacks, settings
):
    settings.AXES_ENABLE_ACCESS_FAILURE_LOG = True  # so that its admin has a row to show
    logs = LogText()
    logging.getLogger().addHandler(logs)
    try:
        world = build_world(mail=smtp, on_commit=django_capture_on_commit_callbacks)
        clients = {role: client_of(role, world) for role in ROLES}

        wrong = []
        for surface in surfaces():
            for role in ROLES:
                got, shown = outcome(surface.fetch(clients[role], world, role), world)
                expected = EXPECTED[(role, surface.name)]
                if got != expected:
                    detail = f" ({', '.join(shown)})" if shown else ""
                    wrong.append(f"{role} | {surface.name}: expected {expected}, got {got}{detail}")
    finally:
        logging.getLogger().removeHandler(logs)
    # Whoever reads the logs (Operations, a log service) is one more reader.
    got, shown = outcome(Seen(200, "\n".join(logs.lines)), world)
    if got != NO_CODE:
        wrong.append(f"the logs: expected no code, got {got} ({', '.join(shown)})")

    assert not wrong, f"{len(wrong)} cell(s) differ:\n" + "\n".join(wrong)


def test_a_code_counts_in_any_case_and_without_dashes_but_not_as_a_search_types_it():
    code = new_activation_code()
    world = World(**dict.fromkeys(f.name for f in dataclasses.fields(World)))
    world.codes = [code]

    def seen(text):
        return outcome(Seen(200, f"<td>{text}</td>"), world)[0]

    assert seen(code) == seen(code.lower()) == seen(code.replace("-", "")) == CODE
    assert seen(code.replace("-", "").lower()) == seen(LEGACY_KEYS[0].lower()) == CODE
    assert seen(_loosely(code)) == NO_CODE  # the echo of what the role typed
    assert outcome(Seen(404, refused=True), world)[0] == REFUSED
