"""The portal: what end users see of their entitlements, and what they can do with them.

Every page that names an entitlement looks it up among those the user sees *now*
(`entitlements_visible_to`), so an association removed by Customer Care takes effect on the
next request and anything else answers 404, downloads included.
"""

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, QueryDict, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.i18n import set_language

from apps.accounts.models import Account, Contact
from apps.accounts.services import access_request_create, contact_language_set
from apps.catalog.models import DeliveryMethod, Product
from apps.core.contracts import Rejected
from apps.core.csv_files import CsvWriter
from apps.core.dates import business_today
from apps.entitlements.activations import activations_create, serial_numbers_parse
from apps.entitlements.emails import license_keys_mail
from apps.entitlements.event_log import entitlement_event_log
from apps.entitlements.license_keys import LicenseKeyInvalid, license_key_read
from apps.entitlements.models import Entitlement, EntitlementStatus
from apps.entitlements.selectors import (
    entitlement_list_for_user,
    entitlements_visible_to,
    license_keys_problem,
    license_keys_reissued,
)
from apps.portal import downloads
from apps.portal.forms import (
    AccessRequestForm,
    EntitlementFilterForm,
    LanguageForm,
    SerialNumbersForm,
)
from apps.portal.order_addresses import order_address_of
from apps.portal.searches import search_keep, search_text

PAGE_SIZE = 25
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
    visible = entitlements_visible_to(user=request.user)
    form = _filter_form(request, {**request.GET.dict(), "q": search}, visible)
    filters = form.filters()
    today = business_today()
    rows = entitlement_list_for_user(user=request.user, today=today, filters=filters)
    if request.GET.get("format") == "csv":
        return _csv_response(rows, today)
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
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
            "has_contact": _contact(request.user) is not None,
            "status_labels": dict(EntitlementStatus.choices),
            "columns": _columns(query, filters.ordering),
        },
    )


def _filter_form(request, data, visible) -> EntitlementFilterForm:
    return EntitlementFilterForm(
        data,
        accounts=Account.objects.filter(associations__contact__user=request.user),
        products=Product.objects.filter(pk__in=visible.values("product_id")).order_by("name"),
    )


def _search_kept(request):
    """The search form's POST (or an old address with ?q=): keep the text in the session and
    send the user to the list with the other filters and the search's name, never its text.
    A text the form refuses (too long) is not kept, and the list says why."""
    source = request.POST if request.method == "POST" else request.GET
    text = source.get("q", "").strip()
    search_name = None
    if text:
        form = _filter_form(request, {"q": text}, entitlements_visible_to(user=request.user))
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


@require_GET
@login_required
def entitlement_detail(request, ssrn: str):
    entitlement = _visible_entitlement(request, ssrn)
    return _detail_page(request, entitlement, SerialNumbersForm())


def _detail_page(request, entitlement, form, *, activated=(), status=200):
    today = business_today()
    activations = list(entitlement.activations.select_related(None).order_by("-id"))
    for activation in activations:
        activation.works_until = _key_works_until(activation.license_key)
    certificate = downloads.ready_certificate(entitlement)
    entitlement.days = entitlement.days_left(today)
    keys_problem = license_keys_problem(entitlement=entitlement)
    return render(
        request,
        "portal/entitlement_detail.html",
        {
            "entitlement": entitlement,
            "status_label": EntitlementStatus(entitlement.status).label,
            "accounts": entitlement.entitlement_accounts.select_related("account").order_by("role"),
            "terms": entitlement.terms.all(),
            "activations": activations,
            "seats_used": sum(1 for a in activations if a.revoked_at is None),
            "activated": activated,
            "certificate": certificate,
            # A suspended or revoked entitlement hands out no key, its page included.
            "keys_problem": keys_problem,
            "legacy_keys": [] if keys_problem else entitlement.legacy_keys.order_by("pk"),
            "keys_reissued": license_keys_reissued(entitlement=entitlement),
            "can_activate": entitlement.product.delivery_method == DeliveryMethod.JAL
            and entitlement.status in (EntitlementStatus.ACTIVE, EntitlementStatus.GRACE),
            "form": form,
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
    entitlement = _visible_entitlement(request, ssrn)
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
