import datetime
import json
from pathlib import Path

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from apps.accounts.models import AccountAssociation, Contact, User
from apps.accounts.services import (
    access_request_create,
    account_association_save,
    accounts_import,
)
from apps.backoffice.roles import CUSTOMER_CARE, OPERATIONS
from apps.catalog.services import catalog_import
from apps.core.actors import Job
from apps.core.contracts import validate
from apps.core.dates import business_today
from apps.entitlements.activations import activations_create
from apps.entitlements.models import Entitlement, RehostRequest
from apps.entitlements.rehosts import rehost_request_approve, rehost_request_create
from apps.entitlements.transfers import entitlement_transfer
from apps.fulfillment.services import order_lines_ship_now
from apps.orders.contracts import OrderIn
from apps.orders.models import LineStatus, OrderLine, SalesOrder
from apps.orders.services import sales_order_upsert
from apps.outbox.demo import DEMO_PATH
from apps.outbox.endpoints import webhook_endpoint_create
from apps.outbox.events import EVENT_TYPES
from apps.outbox.models import WebhookEndpoint

SEED_DEMO = Job("seed_demo")

DEMO = Path(__file__).resolve().parent.parent.parent / "demo"
PORTAL_PASSWORD = "keyship-demo"
STAFF = [
    # email, name, password, superuser, group
    ("admin@keyship.example", "Keyship Admin", "keyship-admin", True, None),
    ("care@keyship.example", "Casey Care", "keyship-care", False, CUSTOMER_CARE),
    ("ops@keyship.example", "Olivia Ops", "keyship-ops", False, OPERATIONS),
]
PORTAL_USERS = ["alice@northwind.example", "bob@blueharbor.example"]
# An address of every demo order that is no contact's login: it signs in with a sign-in link
# ("Sign in with a link" on the login page; `make run` writes the email to var/mail/).
ORDER_ADDRESS = "orders@blueharbor.example"

# Alice is customer admin of her account, and Bob (a partner) waits for her answer.
CUSTOMER_ADMINS = [("alice@northwind.example", "0100012345")]
ACCESS_REQUESTS = [
    (
        "bob@blueharbor.example",
        "0100012345",
        "Blue Harbor installs and runs Northwind's firewalls as their partner.",
    ),
]

# A transfer to look at: Lakeside's small order ships, then moves to Northwind, whose Alice
# sees it with "Transferred" in its event log.
TRANSFER = {
    "order_line": ("DEMO-1004", 1),
    "to": ["0100012345"],
    "reason": "Lakeside's site was acquired by Northwind",
}
# A rehost to look at, on Northwind's subscription of DEMO-1001 (two seats): two gateways
# activated; Alice asked to move the first to its replacement and Customer Care approved;
# her request for the second waits for Customer Care.
REHOST = {
    "order_line": ("DEMO-1001", 1),
    "serial_numbers": ["NW-GW-0001", "NW-GW-0002"],
    "requested_by": "alice@northwind.example",
    "decided_by": "care@keyship.example",
    "approved": ("NW-GW-0001", "NW-GW-0003", "Power supply failed; replaced under RMA 7001."),
    "note": "Replacement shipped under RMA 7001.",
    "pending": ("NW-GW-0002", "NW-GW-0004", "Fans fail at boot; the NOC asks for RMA 7002."),
}
# The lines the demo's story needs shipped while seeding, not a minute later by the worker
# (which ships the other lines due today and before).
SHIP_AT_ONCE = [TRANSFER["order_line"], REHOST["order_line"]]


def _demo_orders(today: datetime.date) -> list[dict]:
    accounts = [
        {"account_id": "0100012345", "name": "Northwind Networks", "role": "end_customer"},
        {"account_id": "0200054321", "name": "Blue Harbor Integrators", "role": "partner"},
        {"account_id": "0300077777", "name": "Meridian Distribution", "role": "distributor"},
    ]
    emails = ["alice@northwind.example", ORDER_ADDRESS]
    # ERPs send several partners (and distributors) on one order; each sees what it ships.
    second_partner = {"account_id": "0200067890", "name": "Lakeside Systems", "role": "partner"}

    def order(number, lines, more_accounts=()):
        return {
            "order_number": number,
            "language": "en",
            "accounts": [*accounts, *more_accounts],
            "emails": emails,
            "lines": [
                {
                    "line_number": n,
                    "sku": sku,
                    "quantity": qty,
                    "requested_ship_date": day.isoformat(),
                }
                for n, (sku, qty, day) in enumerate(lines, start=1)
            ],
        }

    return [
        order(
            "DEMO-1001",
            [
                ("KS-TD-SUB-1Y", 2, today - datetime.timedelta(days=3)),
                ("KS-ADV-RTG", 1, today - datetime.timedelta(days=3)),
            ],
        ),
        order(
            "DEMO-1002",
            [
                ("KS-ADV-RTG", 4, today),
                ("KS-HER-DOC", 1, today),
                ("KS-HER-NOACT", 1, today),
                ("KS-PAPER-CHS", 1, today),
            ],
            more_accounts=[second_partner],
        ),
        order(
            "DEMO-1003",
            [
                ("KS-TD-SUB-1Y", 10, today + datetime.timedelta(days=14)),
                ("KS-HER-KEY", 2, today + datetime.timedelta(days=14)),
                ("KS-LMS-VPN", 1, today + datetime.timedelta(days=30)),
            ],
        ),
        {
            **order("DEMO-1004", [("KS-ADV-RTG", 1, today)]),
            "accounts": [{**second_partner, "role": "end_customer"}],
            "emails": ["licensing@lakeside.example"],
        },
    ]


class Command(BaseCommand):
    help = (
        "Load demo data: accounts, contacts with portal logins, staff logins, a product for "
        "every delivery method and orders due in the past, today and in the future. "
        "Safe to run again: it adds only what is missing."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--force",
            action="store_true",
            help="run even with DEBUG off (the demo passwords are public)",
        )

    @transaction.atomic
    def handle(self, *args, force=False, **options):
        if not settings.DEBUG and not force:
            raise CommandError(
                "seed_demo is for development: its passwords are public. "
                "Use --force to run it anyway."
            )
        for name, service in (("catalog.json", catalog_import), ("accounts.json", accounts_import)):
            result = service(document=json.loads((DEMO / name).read_text()), actor=SEED_DEMO)
            for what, outcome in result.rows:
                self.stdout.write(f"{what}: {outcome}")
        for email in PORTAL_USERS:
            user = User.objects.get(email=email)
            if not user.has_usable_password():
                user.set_password(PORTAL_PASSWORD)
                user.save(update_fields=["password"])
        self._customer_admins()
        for email, name, password, superuser, group in STAFF:
            user = User.objects.filter(email=email).first()
            if user is None:
                user = User.objects.create_user(
                    email=email, name=name, password=password, is_staff=True, is_superuser=superuser
                )
                self.stdout.write(f"staff login {email}: created")
            if group:
                user.groups.add(Group.objects.get(name=group))
        self._webhook_endpoint()
        # Orders are added once: their dates are relative to the day of the first seed, and
        # lines that have shipped since must not be changed by a later seed.
        for data in _demo_orders(business_today()):
            if SalesOrder.objects.filter(order_number=data["order_number"]).exists():
                self.stdout.write(f"order {data['order_number']}: unchanged")
                continue
            order, outcome = sales_order_upsert(data=validate(OrderIn, data), actor=SEED_DEMO)
            self.stdout.write(f"order {order.order_number}: {outcome}")
        self._ship_at_once()
        self._transfer()
        self._rehost()

    def _line(self, order_line) -> OrderLine | None:
        number, line_number = order_line
        return (
            OrderLine.objects.select_related("order")
            .filter(order__order_number=number, line_number=line_number)
            .first()
        )

    def _ship_at_once(self):
        """Ship the story's lines now (each order's open lines due by today, as one
        shipment), so the story does not wait for the worker. A line shipped already, or put
        on hold in the demo since, is left as it is."""
        for order_line in SHIP_AT_ONCE:
            line = self._line(order_line)
            due = (
                OrderLine.objects.filter(
                    order_id=line.order_id,
                    status=LineStatus.OPEN,
                    requested_ship_date__lte=business_today(),
                ).order_by("line_number")
                if line is not None and line.status == LineStatus.OPEN
                else []
            )
            if not due:
                self.stdout.write(f"ship {order_line[0]} now: unchanged")
                continue
            report = order_lines_ship_now(lines=list(due), actor=SEED_DEMO)
            for shipped in report.shipped:
                self.stdout.write(f"ship {shipped} now: shipped")
            for blocked in report.blocked:
                self.stdout.write(f"ship {blocked} now: blocked ({blocked.status_reason})")

    def _entitlement(self, order_line) -> Entitlement | None:
        line = self._line(order_line)
        # The line's own, not seats split off it in the demo since.
        return line.entitlements.filter(split_from__isnull=True).first() if line else None

    def _transfer(self):
        """Transfer the story's entitlement once: never again once it has been transferred
        (in the seed or in the demo since)."""
        entitlement = self._entitlement(TRANSFER["order_line"])
        what = f"transfer of {'/'.join(map(str, TRANSFER['order_line']))}"
        if (
            entitlement is None
            or entitlement.transferred_at
            or entitlement.account_history.exists()
        ):
            self.stdout.write(f"{what}: unchanged")
            return
        entitlement_transfer(
            entitlement_id=entitlement.pk,
            account_ids=TRANSFER["to"],
            reason=TRANSFER["reason"],
            actor=SEED_DEMO,
        )
        self.stdout.write(f"{what} to {', '.join(TRANSFER['to'])}: done")

    def _rehost(self):
        """Activate the story's devices, and have Alice ask for two replacements, one of
        which Customer Care approves. Once only: an entitlement that has been activated (in
        the seed or in the demo since) is left as it is."""
        entitlement = self._entitlement(REHOST["order_line"])
        what = f"rehost on {'/'.join(map(str, REHOST['order_line']))}"
        if (
            entitlement is None
            or entitlement.activations.exists()
            or RehostRequest.objects.filter(activation__entitlement=entitlement).exists()
        ):
            self.stdout.write(f"{what}: unchanged")
            return
        devices = activations_create(
            entitlement_id=entitlement.pk,
            serial_numbers=REHOST["serial_numbers"],
            actor=SEED_DEMO,
        )
        by_serial = {activation.serial_number: activation for activation in devices}
        # The requests are Alice's and the decision Customer Care's, as the admin and the
        # portal show them (the audit trail names them, not the seed).
        alice = User.objects.get(email=REHOST["requested_by"])
        care = User.objects.get(email=REHOST["decided_by"])
        requests = []
        for serial, new_serial, reason in (REHOST["approved"], REHOST["pending"]):
            requests.append(
                rehost_request_create(
                    activation_id=by_serial[serial].pk,
                    new_serial_number=new_serial,
                    reason=reason,
                    user=alice,
                    language="en",
                )
            )
        rehost_request_approve(request_id=requests[0].pk, actor=care, note=REHOST["note"])
        self.stdout.write(
            f"{what}: {REHOST['approved'][0]} rehosted to {REHOST['approved'][1]}; "
            f"{REHOST['pending'][0]} to {REHOST['pending'][1]} waits for Customer Care"
        )

    def _webhook_endpoint(self):
        """An endpoint for every event, posting to the demo's own receiver (served with DEBUG
        on), which writes what it receives to var/webhooks/."""
        url = settings.SITE_URL.rstrip("/") + DEMO_PATH
        if WebhookEndpoint.objects.filter(url=url).exists():
            self.stdout.write(f"webhook endpoint {url}: unchanged")
            return
        if not settings.WEBHOOK_ALLOW_PRIVATE_URLS:
            self.stdout.write(
                f"webhook endpoint {url}: skipped (a local address: set "
                "WEBHOOK_ALLOW_PRIVATE_URLS=true, as make run does)"
            )
            return
        webhook_endpoint_create(
            url=url,
            events=list(EVENT_TYPES),
            description="Demo receiver (var/webhooks/)",
            owner_email=STAFF[0][0],
            actor=SEED_DEMO,
        )
        self.stdout.write(f"webhook endpoint {url}: created")

    def _customer_admins(self):
        for email, account_id in CUSTOMER_ADMINS:
            association = AccountAssociation.objects.select_related("contact", "account").get(
                contact__user__email=email, account__account_id=account_id
            )
            outcome = "unchanged"
            if not association.is_admin:
                account_association_save(
                    contact=association.contact,
                    account=association.account,
                    note=association.note,
                    association=association,
                    is_admin=True,
                    actor=SEED_DEMO,
                )
                outcome = "created"
            self.stdout.write(f"customer admin {email} of {account_id}: {outcome}")
        for email, account_id, reason in ACCESS_REQUESTS:
            contact = Contact.objects.get(user__email=email)
            # Once asked (and perhaps decided in the demo since), it is not asked again.
            asked = contact.access_requests.filter(requested_account_id=account_id).exists()
            seen = contact.associations.filter(account__account_id=account_id).exists()
            outcome = "unchanged"
            if not (asked or seen):
                access_request_create(
                    contact=contact, account_id=account_id, reason=reason, actor=SEED_DEMO
                )
                outcome = "created"
            self.stdout.write(f"access request of {email} for {account_id}: {outcome}")
