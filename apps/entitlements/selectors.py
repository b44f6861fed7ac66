import datetime
from collections.abc import Collection
from dataclasses import dataclass

from django.contrib.postgres.expressions import ArraySubquery
from django.db import connection
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Func,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Value,
    When,
)
from django.db.models.functions import Coalesce
from django.utils.translation import gettext as _

from apps.accounts.models import Account, AccountAssociation, Contact
from apps.catalog.models import Product
from apps.core import sealing
from apps.core.codes import CodeKind, parse_code
from apps.core.dates import business_today
from apps.core.search_terms import search_term_parse
from apps.core.text import has_control_characters
from apps.entitlements.license_keys import key_file
from apps.entitlements.models import (
    Activation,
    Certificate,
    Entitlement,
    EntitlementAccount,
    EntitlementStatus,
    SupersededLicenseKey,
    Term,
    TermKind,
)
from apps.orders.models import AccountRole


def entitlement_by_activation_code(*, text: str) -> QuerySet[Entitlement]:
    """Entitlements whose activation code is `text` as typed (at most one); empty when
    the text is not a well-formed activation code."""
    parsed = parse_code(text)
    if parsed.kind != CodeKind.ACTIVATION_CODE or parsed.mistyped:
        return Entitlement.objects.none()
    return Entitlement.objects.filter(activation_code_digest=sealing.code_digest(parsed.value))


def entitlement_by_ssrn(*, text: str) -> QuerySet[Entitlement]:
    """Entitlements with the SSRN `text` as typed (normalised); at most one. None for a
    text with a control character, which no SSRN holds (and PostgreSQL refuses a NUL)."""
    if has_control_characters(text):
        return Entitlement.objects.none()
    parsed = parse_code(text)
    value = parsed.value if parsed.kind == CodeKind.SSRN else text.strip().upper()
    return Entitlement.objects.filter(ssrn=value)


def _queries_for_term(*, term: str, by_activation_code: bool) -> list[QuerySet[Entitlement]]:
    """One query per kind of key the typed term can be, each on its own index."""
    typed = search_term_parse(term)
    if not typed.text:
        return []
    queries = [entitlement_by_ssrn(text=typed.text)]
    if by_activation_code and typed.code.kind == CodeKind.ACTIVATION_CODE:
        queries.append(entitlement_by_activation_code(text=typed.text))
    if typed.order_number:
        queries.append(
            Entitlement.objects.filter(order_line__order__order_number__lower=typed.order_number)
        )
    if typed.serial_number:
        queries += [
            Entitlement.objects.filter(activations__serial_number=typed.serial_number),
            # The legacy LMS binds a key to a device; lms sits above this app, so the key is
            # reached through its relation, not imported.
            Entitlement.objects.filter(legacy_keys__serial_number=typed.serial_number),
        ]
    if typed.account_id:
        queries.append(
            Entitlement.objects.filter(entitlement_accounts__account__account_id=typed.account_id)
        )
    return queries


def entitlement_ids_for_term(
    *, term: str, limit: int = 1000, by_activation_code: bool = True
) -> set[int]:
    """Entitlements that a typed key names: SSRN, activation code, order number, device
    serial number (activated, or bound to a legacy LMS key) or Account ID, each normalised
    as search_term_parse reads it.

    Each key is looked up alone, on its own index, and the ids are united: one query that
    ORs these joins makes PostgreSQL scan every entitlement. A kind the term cannot be costs
    no query. `by_activation_code=False` for a searcher who may not see codes: a code then
    finds nothing, as it would tell whose entitlement it is.
    """
    ids: set[int] = set()
    for query in _queries_for_term(term=term, by_activation_code=by_activation_code):
        ids.update(query.values_list("pk", flat=True)[:limit])
    return ids


def entitlement_pks_for_term(*, term: str) -> QuerySet:
    """The ids entitlement_ids_for_term finds, as one subquery to filter by (`pk__in=`): a
    UNION of the same look-ups, each still on its own index, for a page that must not spend
    a query per kind of key."""
    queries = [
        query.order_by().values("pk")
        for query in _queries_for_term(term=term, by_activation_code=True)
    ]
    if not queries:
        return Entitlement.objects.none().values("pk")
    first, *others = queries
    return first.union(*others) if others else first


# Who may renew an entitlement. A renewal adds a term to someone's subscription and its
# Fulfillment Email goes to the renewal order's addresses, so it must come from an order for
# the same customer: the renewal order's end customer must be an end customer of the
# entitlement. The sold-to, partner and distributor roles do not count: a reseller or a
# distributor serves many customers (and is often the sold-to), so sharing one with an
# entitlement says nothing about whose it is. A reseller renewing for its customer names that
# customer as the end customer, as on any order it places. A renewal never adds the order's
# accounts to the entitlement, and never sends its activation code or keys (see
# entitlements_renew and the Fulfillment Email).
RENEWAL_OWNER_ROLE = AccountRole.END_CUSTOMER


def renewal_owner_matches(*, entitlement: Entitlement, account_pks: set[int]) -> bool:
    """Whether an order whose end customer accounts are `account_pks` may renew the
    entitlement. Reads `entitlement.entitlement_accounts` (prefetch it for many)."""
    return any(
        row.role == RENEWAL_OWNER_ROLE and row.account_id in account_pks
        for row in entitlement.entitlement_accounts.all()
    )


def renewal_problem(*, ssrn: str, product, accounts: list[dict]) -> str | None:
    """Why a line of `product` on an order with these `accounts` (the order file's rows:
    account_id, role) cannot renew the entitlement `ssrn`, or None if it can.

    Ownership is checked before the entitlement's state and product, so an order for
    another customer learns no more about the entitlement than the public /verify/ page says.
    """
    entitlement = (
        entitlement_by_ssrn(text=ssrn)
        .select_related("product")
        .prefetch_related("entitlement_accounts")
        .first()
    )
    if entitlement is None:
        return f'no entitlement has the SSRN "{ssrn}"'
    end_customers = {row["account_id"] for row in accounts if row["role"] == RENEWAL_OWNER_ROLE}
    account_pks = set(
        Account.objects.filter(account_id__in=end_customers).values_list("pk", flat=True)
    )
    if not renewal_owner_matches(entitlement=entitlement, account_pks=account_pks):
        return (
            f'"{entitlement.ssrn}" belongs to another end customer: a renewal must name the '
            "end customer of the entitlement it renews"
        )
    if entitlement.revoked_at:
        return f'the entitlement "{entitlement.ssrn}" is revoked'
    if entitlement.term_ends_on is None:
        return f'the entitlement "{entitlement.ssrn}" is perpetual: it has no term to renew'
    if entitlement.product_id != product.renews_id:
        return f'"{product.sku}" does not renew "{entitlement.product.sku}" ({entitlement.ssrn})'
    return None


def entitlements_visible_to(*, user) -> QuerySet[Entitlement]:
    """Every entitlement of every account the user's contact is associated with now."""
    return Entitlement.objects.filter(
        pk__in=EntitlementAccount.objects.filter(
            account__associations__contact__user_id=user.pk
        ).values("entitlement_id")
    )


# The portal's sort keys and the columns behind them; the primary key breaks ties.
# (starts_on, id) and ssrn have indexes that a page can be read from in order.
PORTAL_ORDERINGS = {
    "ssrn": "ssrn",
    "product": "product__name",
    "quantity": "quantity",
    "status": "status",
    "start": "starts_on",
    "end": "term_ends_on",
}


INDEXED_ORDERINGS = ("starts_on", "ssrn")
# What the list and its CSV show of an entitlement (its status and days left included).
LIST_FIELDS = (
    "ssrn",
    "product",
    "order_line",
    "quantity",
    "starts_on",
    "term_ends_on",
    "grace_ends_on",
    "revoked_at",
    "suspended_at",
)


@dataclass(frozen=True)
class EntitlementFilter:
    account_id: str = ""
    sku: str = ""
    status: str = ""
    search: str = ""
    ordering: str = "-start"


def _seats_used() -> Subquery:
    live = (
        Activation.objects.filter(entitlement=OuterRef("pk"), revoked_at__isnull=True)
        .order_by()
        .values("entitlement")
        .annotate(used=Count("pk"))
        .values("used")
    )
    return Coalesce(Subquery(live, output_field=IntegerField()), Value(0))


def entitlements_seen_through(*, account_pks: Collection[int]) -> QuerySet[EntitlementAccount]:
    """The rows by which these accounts (primary keys: those a contact is associated with
    now, as the caller just read them) see entitlements: an index-only read of
    entitlement_account_seen_idx.

    The keys go to PostgreSQL as values, not as a join with the associations, so that its
    statistics say how many entitlements they see: for a contact of large accounts it then
    walks the list's sort index and stops after a page, instead of sorting all of them."""
    return EntitlementAccount.objects.filter(account_id__in=list(account_pks))


class _IdInArray(Func):
    """`id = ANY(ARRAY(subquery))`: PostgreSQL reads the ids by the primary key in their
    order (one probe each) where `id IN (subquery)` has it hash them and read every
    entitlement to join them, since it cannot know how many the array holds."""

    arg_joiner = " = ANY("
    template = "(%(expressions)s))"
    conditional = True
    output_field = BooleanField()


def entitlement_list_for_accounts(
    *,
    account_pks: Collection[int],
    today: datetime.date,
    filters: EntitlementFilter,
    read_whole: bool = False,
) -> QuerySet[Entitlement]:
    """The portal's entitlement list: what the accounts (those the user's contact is
    associated with now) see, filtered, searched and sorted, with what each row shows
    loaded in a fixed number of queries (accounts in one prefetch). `filters.account_id`
    must be one of these accounts' (the form's choices). `read_whole`: the page wanted lies
    far down a list short enough to read whole, which then costs less than walking the
    sort's index to it."""
    seen = entitlements_seen_through(account_pks=account_pks)
    if filters.account_id:
        seen = seen.filter(account__account_id=filters.account_id)
    if filters.sku:
        # The row's copy of the product: the product's entitlements these accounts see,
        # from the (account, product, entitlement) index.
        seen = seen.filter(product__sku=filters.sku)
    field = PORTAL_ORDERINGS.get(filters.ordering.lstrip("-"), "starts_on")
    if filters.search:
        # The search's few rows first, each checked against the accounts.
        rows = Entitlement.objects.filter(
            pk__in=entitlement_pks_for_term(term=filters.search)
        ).filter(pk__in=seen.values("entitlement_id"))
    elif (
        read_whole or filters.status or field not in INDEXED_ORDERINGS
    ) and connection.vendor == "postgresql":
        # Every row the accounts see is read (a status comes from its dates; this sort has
        # no index): by their ids, in order.
        rows = Entitlement.objects.filter(
            _IdInArray(F("pk"), ArraySubquery(seen.values("entitlement_id")))
        )
    else:
        # The page is found by walking the sort's index and keeping what the accounts see,
        # or, for accounts that see few, by sorting those (PostgreSQL's choice, from the
        # number of rows its statistics give the accounts).
        rows = Entitlement.objects.filter(pk__in=seen.values("entitlement_id"))
    rows = rows.with_status(today).annotate(seats_used=_seats_used())
    if filters.status:
        rows = rows.filter(status=filters.status)
    descending = filters.ordering.startswith("-")
    rows = rows.order_by(f"-{field}" if descending else field, "-pk" if descending else "pk")
    # Only the columns the list shows: a list that reads all the rows counts them over its
    # rows (a window), which then stay in memory rather than spill to disk. The products
    # are read for the page's rows only: a join would be made for every row the accounts
    # see before the sort picks a page (as would the order's, which the CSV asks for).
    return rows.only(*LIST_FIELDS).prefetch_related(
        "product",
        Prefetch(
            "entitlement_accounts",
            queryset=EntitlementAccount.objects.select_related("account").order_by("role"),
        ),
    )


@dataclass(frozen=True)
class HeldProduct:
    """A product some of the accounts hold, and how many of its entitlements they see
    (None when not counted)."""

    sku: str
    name: str
    entitlements: int | None


def entitlement_products_held(
    *, account_pks: Collection[int], count: bool = False, sku: str = ""
) -> list[HeldProduct]:
    """The products of the entitlements these accounts see, by name; with `count`, each
    with the number of those entitlements (one seen through two of the accounts counts
    once), or only the product `sku`'s if given. One query on the (account, product,
    entitlement) index, which never reads an entitlement: a product is found by the first
    row that names it, and counting reads only the rows of the products counted."""
    seen = entitlements_seen_through(account_pks=account_pks)
    products = Product.objects.filter(Exists(seen.filter(product=OuterRef("pk"))))
    if count:
        number = Subquery(
            seen.filter(product=OuterRef("pk"))
            .order_by()
            .values("product")
            .annotate(number=Count("entitlement_id", distinct=True))
            .values("number"),
            output_field=IntegerField(),
        )
        # A CASE runs its subquery only for the rows it picks: the other products cost none.
        products = products.annotate(number=Case(When(sku=sku, then=number)) if sku else number)
    else:
        products = products.annotate(number=Value(None, output_field=IntegerField()))
    return [
        HeldProduct(product_sku, name, number)
        for product_sku, name, number in products.order_by("name", "sku").values_list(
            "sku", "name", "number"
        )
    ]


def license_keys_file(*, entitlement: Entitlement) -> tuple[str, str]:
    """The file of an entitlement's live license keys, one after the other: (name, text)."""
    live = entitlement.activations.filter(revoked_at__isnull=True).order_by("serial_number")
    return key_file(ssrn=entitlement.ssrn, keys=live.values_list("license_key", flat=True))


@dataclass(frozen=True)
class KeyRenewal:
    """When a renewal last re-issued an entitlement's device keys, and until when they work."""

    reissued_at: datetime.datetime
    works_until: datetime.date | None
    devices: int


def license_keys_reissued(*, entitlement: Entitlement) -> KeyRenewal | None:
    """The latest re-issue of the live activations' keys (a renewal), or None if their keys
    are the ones they were activated with."""
    latest = (
        SupersededLicenseKey.objects.filter(
            activation__entitlement=entitlement,
            activation__revoked_at__isnull=True,
            renewal__isnull=False,  # a device's own refresh is not a re-issue
        )
        .order_by("-superseded_at")
        .values_list("superseded_at", flat=True)
        .first()
    )
    if latest is None:
        return None
    devices = SupersededLicenseKey.objects.filter(
        activation__entitlement=entitlement,
        activation__revoked_at__isnull=True,
        renewal__isnull=False,
        superseded_at=latest,
    ).count()
    return KeyRenewal(reissued_at=latest, works_until=entitlement.works_until, devices=devices)


def activations_with_last_key_change(*, entitlement: Entitlement) -> QuerySet[Activation]:
    """The entitlement's activations, newest first, each with `last_reissued_at`: when a
    renewal last replaced its key (None if never); what license_keys_reissued_of reads."""
    last = (
        SupersededLicenseKey.objects.filter(activation=OuterRef("pk"))
        .order_by("-superseded_at")
        .values("superseded_at")[:1]
    )
    return entitlement.activations.annotate(last_reissued_at=Subquery(last)).order_by("-id")


def license_keys_reissued_of(*, entitlement: Entitlement, activations) -> KeyRenewal | None:
    """license_keys_reissued, from activations_with_last_key_change's rows (no query)."""
    live = [a for a in activations if a.revoked_at is None and a.last_reissued_at]
    if not live:
        return None
    latest = max(a.last_reissued_at for a in live)
    devices = sum(1 for a in live if a.last_reissued_at == latest)
    return KeyRenewal(reissued_at=latest, works_until=entitlement.works_until, devices=devices)


@dataclass(frozen=True)
class Visibility:
    """Why a contact sees an entitlement or not: the accounts they share, and the ones not."""

    visible: bool
    shared: list  # (account, role, association) the contact sees it through
    missing: list  # (account, role) of the entitlement the contact is not associated with


def visibility_explain(*, contact: Contact, entitlement: Entitlement) -> Visibility:
    """Contact -> associations -> the entitlement's accounts and their roles."""
    associations = {
        association.account_id: association
        for association in AccountAssociation.objects.filter(contact=contact)
    }
    shared, missing = [], []
    for row in entitlement.entitlement_accounts.select_related("account").order_by("role"):
        association = associations.get(row.account_id)
        if association:
            shared.append((row.account, row.get_role_display(), association))
        else:
            missing.append((row.account, row.get_role_display()))
    return Visibility(visible=bool(shared), shared=shared, missing=missing)


def api_entitlements(
    *, today: datetime.date, account_id: str = "", status: str = "", updated_since=None
) -> QuerySet[Entitlement]:
    """Entitlements for the ERP's API, with what each row answers loaded in a fixed number of
    queries."""
    rows = Entitlement.objects.with_status(today).annotate(seats_used=_seats_used())
    if account_id:
        rows = rows.filter(
            pk__in=EntitlementAccount.objects.filter(account__account_id=account_id).values(
                "entitlement_id"
            )
        )
    if status:
        rows = rows.filter(status=status)
    if updated_since:
        rows = rows.filter(updated_at__gte=updated_since)
    return rows.select_related("product", "order_line__order").prefetch_related(
        Prefetch(
            "entitlement_accounts",
            queryset=EntitlementAccount.objects.select_related("account").order_by("role"),
        )
    )


@dataclass(frozen=True)
class Delivered:
    """An entitlement a shipment delivered: made by one of its lines, or extended by the
    renewal term one of its lines bought (`renewal`, with its line and product)."""

    shipment_id: int
    line_number: int
    entitlement: Entitlement  # with its product and order line
    renewal: Term | None


def shipment_entitlements(
    *, shipment_ids: Collection[int] = (), entitlement_ids: Collection[int] = ()
) -> list[Delivered]:
    """What shipments delivered, by line: the entitlements their lines made and those their
    renewal terms extended. Of these shipments, or of the shipments that delivered these
    entitlements (the one that made each, and those that renewed it); in shipment and line
    order. Give shipment_ids or entitlement_ids.

    Two queries whatever the number of rows, each kind by its own index: one query over an
    OR of both joins reads every entitlement.
    """
    if entitlement_ids:
        new = Entitlement.objects.filter(pk__in=entitlement_ids, order_line__shipment__isnull=False)
        renewals = Term.objects.filter(
            entitlement_id__in=entitlement_ids, order_line__shipment__isnull=False
        )
    else:
        new = Entitlement.objects.filter(order_line__shipment_id__in=shipment_ids)
        renewals = Term.objects.filter(order_line__shipment_id__in=shipment_ids)
    # Entitlements split off a line's later share its shipment (whose certificates the
    # rescue renders), but a split's copy of a renewal term renewed nothing of its own.
    new = new.select_related("product", "order_line")
    renewals = renewals.filter(copied_from__isnull=True)
    # A renewal term counts the device keys it re-issued: its email says how many are waiting.
    renewals = (
        renewals.filter(kind=TermKind.RENEWAL)
        .select_related("order_line__product", "entitlement__product", "entitlement__order_line")
        .annotate(keys_reissued=Count("superseded_keys"))
    )
    delivered = [
        Delivered(e.order_line.shipment_id, e.order_line.line_number, e, renewal=None) for e in new
    ] + [
        Delivered(term.order_line.shipment_id, term.order_line.line_number, term.entitlement, term)
        for term in renewals
    ]
    return sorted(delivered, key=lambda item: (item.shipment_id, item.line_number))


def shipment_certificates(*, shipment_id: int) -> QuerySet[Certificate]:
    """The certificates of a shipment's new entitlements and of those its renewals extended."""
    delivered = shipment_entitlements(shipment_ids=[shipment_id])
    return Certificate.objects.filter(
        entitlement_id__in={item.entitlement.pk for item in delivered}
    )


def entering_grace(*, today: datetime.date) -> Q:
    """Not revoked, active, its term ending within seven days, with a grace period after."""
    return Q(
        feed_status=EntitlementStatus.ACTIVE,
        revoked_at__isnull=True,
        term_ends_on__gte=today,
        term_ends_on__lt=today + datetime.timedelta(days=7),
        grace_ends_on__gt=F("term_ends_on"),
    )


def license_keys_problem(*, entitlement: Entitlement) -> str | None:
    """Why the entitlement's license keys may not be handed out now, or None."""
    status = entitlement.status_on(business_today())
    if status in (EntitlementStatus.SUSPENDED, EntitlementStatus.REVOKED):
        return _("The entitlement %(ssrn)s is %(status)s: its license keys are not handed out.") % {
            "ssrn": entitlement.ssrn,
            "status": str(EntitlementStatus(status).label).lower(),
        }
    return None


def account_contacts(account_pks) -> list[Contact]:
    """The active contacts with an email address associated with any of these accounts
    (primary keys, or a query of them), each once, by Contact ID: the people told what
    happens to the accounts' entitlements."""
    return list(
        Contact.objects.filter(accounts__in=account_pks, user__is_active=True)
        .exclude(user__email="")
        .select_related("user")
        .distinct()
        .order_by("contact_id")
    )


def entitlement_contacts(entitlement: Entitlement) -> list[Contact]:
    """account_contacts of the entitlement's accounts, as they are now."""
    return account_contacts(entitlement.entitlement_accounts.values("account_id"))
