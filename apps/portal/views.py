"""The portal: what end users see of their entitlements, and what they can do with them.

Every page that names an entitlement looks it up among those the user sees *now*
(`entitlements_visible_to`), so an association removed by Customer Care takes effect on the
next request and anything else answers 404, downloads included.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Page, Paginator
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Window
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from apps.accounts.models import Account, AccountAssociation, Contact
from apps.accounts.services import access_request_create, contact_language_set
from apps.catalog.models import DeliveryMethod
from apps.core.contracts import Rejected
from apps.core.csv_files import CsvWriter
from apps.core.dates import business_today
from apps.entitlements.activations import activations_create, serial_numbers_parse
from apps.entitlements.emails import license_keys_mail
from apps.entitlements.event_log import entitlement_event_log
from apps.entitlements.license_keys import LicenseKeyInvalid, license_key_read
from apps.entitlements.models import (
    Certificate,
    CertificateStatus,
    Entitlement,
    EntitlementStatus,
    RehostRequest,
)
from apps.entitlements.rehosts import rehost_request_create
from apps.entitlements.seats import seats_accounts, seats_by_account_and_product
from apps.entitlements.selectors import (
    activations_with_last_key_change,
    entitlement_list_for_accounts,
    entitlement_products_held,
    entitlements_visible_to,
    license_keys_problem,
    license_keys_reissued_of,
)
from apps.portal import downloads
from apps.portal.forms import (
    AccessRequestForm,
    EntitlementFilterForm,
    LanguageForm,
    RehostRequestForm,
    SerialNumbersForm,
)
from apps.portal.order_addresses import order_address_of
from apps.portal.searches import search_keep, search_text

PAGE_SIZE = 25
# Past this many pages, a list of at most READ_WHOLE rows is read whole (by id) rather than
# by walking the sort's index to the page: the walk reads about fifty rows for each one it
# keeps for a contact who sees 2% of all entitlements.
WALKED_PAGES = 4
READ_WHOLE = 50_000
# The Seats page shows this many accounts at a time, each with a row per product.
SEATS_ACCOUNTS_PER_PAGE = 10
# The list's filters that its address carries; the search goes by the name it is kept under.
FILTERS = ("account", "product", "status", "sort")


def home(request):
    """The site's root: the entitlements of a signed-in user (or of an order address signed
    in with a link), the login for anyone else."""
    if request.user.is_authenticated:
        return redirect("portal:entitlements")
    return redirect("portal:address-entitlements" if order_address_of(request) else "login")


def _contact(user) -> Contact | None:
    return Contact.objects.filter(user=user).first()


@require_http_methods(["GET", "POST"])
@transaction.non_atomic_requests  # only reads: READ COMMITTED gains nothing from BEGIN/COMMIT
def entitlement_list(request):
    """The user's entitlements, filtered, searched, sorted, paged or as CSV. A search is
    posted and kept in the session (apps/portal/searches.py): no address carries its text."""
    if not request.user.is_authenticated:
        # An old address may carry a search: the login's ?next= does not take it along.
        return redirect_to_login(_list_url(request.GET, search_name=None))
    if request.method == "POST" or "q" in request.GET:
        return _search_kept(request)
    search_name = request.GET.get("search", "")
    search = search_text(session=request.session, name=search_name) if search_name else ""
    if search is None:
        messages.info(request, _("That search is no longer kept: search again."))
        return _list_redirect(request.GET, search_name=None)
    today = business_today()
    # The page's queries are counted (benchmarks/portal.py: at most 8; seven, outside a
    # transaction): the session and the user; the associations give the accounts (what the
    # user sees now), whether the user has a contact and whether the navigation shows the
    # customer admin's page; one query of the accounts' (account, product, entitlement)
    # index gives the products, and the count of an unfiltered or product list, without
    # reading an entitlement; the page's query counts the rows of any other list (a window
    # over them); its products and accounts follow, one query each.
    associations = list(
        AccountAssociation.objects.filter(contact__user=request.user)
        .select_related("account")
        .order_by("account__account_id")
    )
    account_pks = [association.account_id for association in associations]
    # Counting reads every row of the products counted: only for a list that shows no
    # other count (those count with the page's rows).
    held = entitlement_products_held(
        account_pks=account_pks,
        count=not (request.GET.get("account") or request.GET.get("status") or search),
        sku=request.GET.get("product", ""),
    )
    form = EntitlementFilterForm(
        {**request.GET.dict(), "q": search},
        accounts=[association.account for association in associations],
        products=held,
    )
    filters = form.filters()
    counts = [p.entitlements for p in held if not filters.sku or p.sku == filters.sku]
    counted = not (filters.account_id or filters.search or filters.status or None in counts)
    number = _page_number(request.GET.get("page"))
    rows = entitlement_list_for_accounts(
        account_pks=account_pks,
        today=today,
        filters=filters,
        read_whole=counted and number > WALKED_PAGES and sum(counts) <= READ_WHOLE,
    )
    if request.GET.get("format") == "csv":
        # Every row is read: the products and orders are joined.
        return _csv_response(rows.select_related("product", "order_line__order"), today)
    if counted:
        page = _CountedPaginator(rows, PAGE_SIZE, count=sum(counts)).get_page(number)
    else:
        page = _page_counted_with_rows(rows, number)
    for entitlement in page:
        entitlement.days = entitlement.days_left(today)
    query = request.GET.copy()
    query.pop("page", None)
    query.pop("format", None)
    return render(
        request,
        "portal/entitlement_list.html",
        {
            "form": form,
            "page": page,
            "today": today,
            "filters": filters,
            "query": query.urlencode(),
            "has_contact": bool(associations) or _contact(request.user) is not None,
            "is_customer_admin": any(association.is_admin for association in associations),
            "status_labels": dict(EntitlementStatus.choices),
            "columns": _columns(query, filters.ordering),
        },
    )


class _CountedPaginator(Paginator):
    """A paginator told its count, which the page has from elsewhere."""

    def __init__(self, object_list, per_page, *, count: int):
        super().__init__(object_list, per_page)
        self._known_count = count

    @property
    def count(self) -> int:
        return self._known_count


# A page number past any list's end (which shows its last page); one further would not fit
# PostgreSQL's OFFSET.
LAST_PAGE_NUMBER = 10**9


def _page_number(text) -> int:
    try:
        return min(max(int(text or 1), 1), LAST_PAGE_NUMBER)
    except ValueError:
        return 1


def _page_counted_with_rows(rows, number: int):
    """A page whose query also counts every row (a window over the same rows), for lists
    that read every row anyway (a status) or are short (one account, a search); a page past
    the end counts apart."""
    start = (number - 1) * PAGE_SIZE
    items = list(rows.annotate(total=Window(Count("pk")))[start : start + PAGE_SIZE])
    if not items:
        return Paginator(rows, PAGE_SIZE).get_page(number)
    return Page(items, number, _CountedPaginator(rows, PAGE_SIZE, count=items[0].total))


def _search_kept(request):
    """The search form's POST (or an old address with ?q=): keep the text in the session and
    send the user to the list with the other filters and the search's name, never its text.
    A text the form refuses (too long) is not kept, and the list says why."""
    source = request.POST if request.method == "POST" else request.GET
    text = source.get("q", "").strip()
    search_name = None
    if text:
        # Only the text is checked here: the list checks the other filters against what the
        # user sees (reading the products they hold is no work for a redirect).
        form = EntitlementFilterForm({"q": text}, accounts=[], products=[])
        if form.is_valid():
            search_name = search_keep(session=request.session, text=text)
        else:
            messages.error(request, form.errors["q"][0])
    return _list_redirect(source, search_name=search_name)


def _list_url(source, *, search_name: str | None) -> str:
    """The list's address with the filters of `source` and a kept search's name, if any."""
    query = QueryDict(mutable=True)
    for name in FILTERS:
        if source.get(name):
            query[name] = source[name]
    if search_name:
        query["search"] = search_name
    url = reverse("portal:entitlements")
    return f"{url}?{query.urlencode()}" if query else url


def _list_redirect(source, *, search_name: str | None):
    return redirect(_list_url(source, search_name=search_name))


def _columns(query, ordering: str) -> list[dict]:
    """The table's headings, each sortable one with the link that sorts by it (a second
    click reverses) and its aria-sort state."""
    headings = [
        (_("Product"), "product"),
        (_("SSRN"), "ssrn"),
        (_("Accounts"), None),
        (_("Quantity"), "quantity"),
        (_("Seats used"), None),
        (_("Status"), "status"),
        (_("Start"), "start"),
        (_("End"), "end"),
    ]
    columns = []
    for label, key in headings:
        column = {"label": label, "key": key}
        if key:
            current = ordering.lstrip("-") == key
            descending = ordering.startswith("-")
            link = query.copy()
            link["sort"] = f"-{key}" if current and not descending else key
            column["url"] = "?" + link.urlencode()
            column["sort"] = ("descending" if descending else "ascending") if current else ""
        columns.append(column)
    return columns


class _Echo:
    def write(self, value):
        return value


def _csv_response(rows, today) -> StreamingHttpResponse:
    """Every row the filters show, not just one page, streamed as it is read."""
    writer = CsvWriter(_Echo())  # no cell a spreadsheet would run as a formula
    labels = dict(EntitlementStatus.choices)
    header = [
        _("Product"),
        _("SKU"),
        _("SSRN"),
        _("Accounts"),
        _("Quantity"),
        _("Seats used"),
        _("Status"),
        _("Days left"),
        _("Start"),
        _("End"),
        _("Order number"),
    ]

    def lines():
        yield writer.writerow(header)
        for row in rows.iterator(chunk_size=500):
            days_left = row.days_left(today)
            yield writer.writerow(
                [
                    row.product.name,
                    row.product.sku,
                    row.ssrn,
                    " ".join(a.account.account_id for a in row.entitlement_accounts.all()),
                    row.quantity,
                    row.seats_used,
                    labels[row.status],
                    "" if days_left is None else days_left,
                    row.starts_on.isoformat(),
                    row.term_ends_on.isoformat() if row.term_ends_on else "",
                    row.order_line.order.order_number,
                ]
            )

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="entitlements-{today}.csv"'
    return response


def _visible_entitlement(request, ssrn: str) -> Entitlement:
    return get_object_or_404(
        entitlements_visible_to(user=request.user)
        .with_status(business_today())
        .select_related("product", "order_line__order"),
        ssrn=ssrn,
    )


def _detail_entitlement(request, ssrn: str) -> Entitlement:
    """_visible_entitlement, with what its page shows beside it in the same query: whether
    a certificate is ready, and whether the navigation shows the customer admin's page."""
    return get_object_or_404(
        entitlements_visible_to(user=request.user)
        .with_status(business_today())
        .select_related("product", "order_line__order")
        .annotate(
            certificate_ready=Exists(
                Certificate.objects.filter(
                    entitlement=OuterRef("pk"), status=CertificateStatus.READY
                )
            ),
            customer_admin=Exists(
                AccountAssociation.objects.filter(contact__user=request.user, is_admin=True)
            ),
        ),
        ssrn=ssrn,
    )


@require_GET
@login_required
@transaction.non_atomic_requests  # only reads: READ COMMITTED gains nothing from BEGIN/COMMIT
def entitlement_detail(request, ssrn: str):
    entitlement = _detail_entitlement(request, ssrn)
    return _detail_page(request, entitlement, SerialNumbersForm())


# Products whose entitlements hold legacy keys (handed out, or bound from the legacy LMS).
LEGACY_KEY_METHODS = (DeliveryMethod.HERITAGE_KEY, DeliveryMethod.LEGACY_LMS)


def _detail_page(
    request, entitlement, form, *, activated=(), status=200, rehost_form=None, rehost_of=None
):
    """The entitlement's page, in few queries (benchmarks/portal.py): what a product's
    delivery method does not show is not read."""
    today = business_today()
    method = entitlement.product.delivery_method
    activations, rehost_requests = [], []
    if method == DeliveryMethod.JAL:
        activations = list(
            activations_with_last_key_change(entitlement=entitlement).select_related(
                "rehosted_from"
            )
        )
        rehost_requests = list(
            RehostRequest.objects.filter(activation__entitlement=entitlement)
            .select_related("activation")
            .order_by("-id")[:50]
        )
    # A rehost stays on its entitlement: the replacement is among the activations read.
    moved_to = {a.rehosted_from_id: a for a in activations if a.rehosted_from_id}
    pending = {r.activation_id for r in rehost_requests if r.status == "pending"}
    for activation in activations:
        activation.works_until = _key_works_until(activation.license_key)
        activation.moved_to = moved_to.get(activation.pk)
        activation.rehost_pending = activation.pk in pending
        activation.rehost_form = (
            rehost_form
            if rehost_of == activation.pk
            else RehostRequestForm(auto_id=f"rma{activation.pk}_%s")
        )
    entitlement.days = entitlement.days_left(today)
    keys_problem = license_keys_problem(entitlement=entitlement)
    return render(
        request,
        "portal/entitlement_detail.html",
        {
            "entitlement": entitlement,
            "status_label": EntitlementStatus(entitlement.status).label,
            "accounts": entitlement.entitlement_accounts.select_related("account").order_by("role"),
            # A perpetual entitlement has no terms.
            "terms": entitlement.terms.all() if entitlement.term_ends_on else [],
            "activations": activations,
            "seats_used": sum(1 for a in activations if a.revoked_at is None),
            "activated": activated,
            "certificate": entitlement.certificate_ready,
            # A suspended or revoked entitlement hands out no key, its page included.
            "keys_problem": keys_problem,
            "legacy_keys": (
                entitlement.legacy_keys.order_by("pk")
                if method in LEGACY_KEY_METHODS and not keys_problem
                else []
            ),
            "keys_reissued": license_keys_reissued_of(
                entitlement=entitlement, activations=activations
            ),
            "can_activate": method == DeliveryMethod.JAL
            and entitlement.status in (EntitlementStatus.ACTIVE, EntitlementStatus.GRACE),
            "rehost_requests": rehost_requests,
            # Shown above the devices too: a refused request's form may not be on the page
            # (the entitlement was suspended since, say).
            "rehost_errors": [e for errors in rehost_form.errors.values() for e in errors]
            if rehost_form is not None
            else [],
            "form": form,
            "is_customer_admin": entitlement.customer_admin,
            "event_log": entitlement_event_log(entitlement=entitlement, user=request.user),
        },
        status=status,
    )


def _key_works_until(text: str):
    """The last day a stored key lets its device work ("perpetual" when it has no end), or
    "" for a key that cannot be read (one imported in another shape)."""
    try:
        key = license_key_read(text)
    except LicenseKeyInvalid:
        return ""
    return key.works_until or "perpetual"


@require_GET
@login_required
def certificate_download(request, ssrn: str):
    return downloads.certificate_download(_visible_entitlement(request, ssrn))


@require_POST
@login_required
def entitlement_activate(request, ssrn: str):
    entitlement = _detail_entitlement(request, ssrn)
    form = SerialNumbersForm(request.POST)
    if form.is_valid():
        try:
            serials = serial_numbers_parse(form.cleaned_data["serial_numbers"])
            activated = activations_create(
                entitlement_id=entitlement.pk, serial_numbers=serials, actor=request.user
            )
        except Rejected as rejected:
            for error in rejected.errors:
                form.add_error("serial_numbers", error)
        else:
            messages.success(
                request,
                _("%(count)d device(s) activated. Their license keys are below.")
                % {"count": len(activated)},
            )
            return _detail_page(request, entitlement, SerialNumbersForm(), activated=activated)
    return _detail_page(request, entitlement, form, status=400)


@require_POST
@login_required
def rehost_request(request, ssrn: str, activation_id: int):
    """Ask Customer Care to move a device's activation to its replacement (an RMA). Only for
    an activation of an entitlement the user sees now: any other answers 404."""
    entitlement = _detail_entitlement(request, ssrn)
    activation = get_object_or_404(entitlement.activations, pk=activation_id)
    form = RehostRequestForm(request.POST, auto_id=f"rma{activation.pk}_%s")
    if form.is_valid():
        contact = _contact(request.user)
        try:
            rehost_request_create(
                activation_id=activation.pk,
                new_serial_number=form.cleaned_data["new_serial_number"],
                reason=form.cleaned_data["reason"],
                user=request.user,
                language=contact.language if contact else translation.get_language(),
            )
        except Rejected as rejected:
            for error in rejected.errors:
                form.add_error("new_serial_number", error)
        else:
            messages.success(
                request,
                _(
                    "Your request to move %(serial)s to %(new)s is with Customer Care. You will "
                    "hear by email."
                )
                % {
                    "serial": activation.serial_number,
                    "new": form.cleaned_data["new_serial_number"].strip().upper(),
                },
            )
            return redirect(reverse("portal:entitlement", args=[entitlement.ssrn]) + "#rehosts")
    return _detail_page(
        request,
        entitlement,
        SerialNumbersForm(),
        status=400,
        rehost_form=form,
        rehost_of=activation.pk,
    )


@require_GET
@login_required
def license_keys_download(request, ssrn: str):
    return downloads.keys_download(_visible_entitlement(request, ssrn))


@require_POST
@login_required
def license_keys_email(request, ssrn: str):
    entitlement = _visible_entitlement(request, ssrn)
    contact = _contact(request.user)
    language = contact.language if contact else translation.get_language()
    try:
        license_keys_mail(
            entitlement=entitlement, user=request.user, language=language, actor=request.user
        )
    except Rejected as rejected:
        for error in rejected.errors:
            messages.error(request, error)
        return redirect("portal:entitlement", ssrn=entitlement.ssrn)
    messages.success(
        request,
        _("The license keys are on their way to %(email)s.") % {"email": request.user.email},
    )
    return redirect("portal:entitlement", ssrn=entitlement.ssrn)


@require_GET
@login_required
def seats(request):
    """Seats owned, used and free per account and product, over the accounts the user's
    contact is associated with now (never an account named in the address: the page takes
    none)."""
    today = business_today()
    accounts = seats_accounts(
        accounts=Account.objects.filter(associations__contact__user=request.user)
    )
    page = Paginator(accounts, SEATS_ACCOUNTS_PER_PAGE).get_page(request.GET.get("page"))
    rows = seats_by_account_and_product(account_pks=[account.pk for account in page], today=today)
    return render(
        request,
        "portal/seats.html",
        {"page": page, "groups": _by_account(rows), "today": today},
    )


def _by_account(rows) -> list[dict]:
    groups: dict[str, dict] = {}
    for row in rows:
        group = groups.setdefault(
            row.account_id, {"account_id": row.account_id, "name": row.account_name, "rows": []}
        )
        group["rows"].append(row)
    return list(groups.values())


@require_http_methods(["GET", "POST"])
@login_required
def access_requests(request):
    contact = _contact(request.user)
    form = AccessRequestForm(request.POST if request.method == "POST" else None)
    if contact is None:
        raise Http404(_("Your login is not linked to a contact."))
    if request.method == "POST" and form.is_valid():
        try:
            access_request_create(
                contact=contact,
                account_id=form.cleaned_data["account_id"],
                reason=form.cleaned_data["reason"],
                actor=request.user,
            )
        except Rejected as rejected:
            for error in rejected.errors:
                form.add_error("account_id", error)
        else:
            messages.success(
                request, _("Your request is with Customer Care. You will hear by email.")
            )
            return redirect("portal:access")
    return render(
        request,
        "portal/access.html",
        {
            "form": form,
            "requests": contact.access_requests.order_by("-id")[:50],
            "accounts": contact.accounts.order_by("account_id"),
        },
        status=400 if form.errors else 200,
    )


@require_POST
def language(request):
    """Switch the language; a signed-in contact's emails follow it too."""
    form = LanguageForm(request.POST, languages=settings.LANGUAGES)
    if form.is_valid() and request.user.is_authenticated:
        contact = _contact(request.user)
        if contact is not None:
            contact_language_set(contact=contact, language=form.cleaned_data["language"])
    return set_language(request)  # sets the cookie and goes back to the page it came from
