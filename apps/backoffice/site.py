from django.conf import settings
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST

from apps.backoffice.bulk_import import KINDS, file_import, file_preview
from apps.backoffice.dashboard import RETRY_PERMISSIONS, dashboard_figures, failed_ids
from apps.backoffice.expiries import upcoming_expiries_by_account
from apps.backoffice.seats import PERMISSIONS as SEATS_PERMISSIONS
from apps.backoffice.seats import SeatsFilterForm, seats_csv, seats_page
from apps.backoffice.selectors import contact_by_key, record_search
from apps.core.bulk_admin import bulk_confirm_view, bulk_view
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.entitlements.selectors import entitlement_by_ssrn, visibility_explain
from apps.entitlements.services import certificates_retry
from apps.outbox.services import deliveries_retry


class KeyshipAdminSite(admin.AdminSite):
    site_header = _("Keyship back office")
    site_title = _("Keyship")
    index_title = _("Customer Care and Operations")
    index_template = "admin/keyship_index.html"

    def get_urls(self):
        return [
            path("find/", self.admin_view(self.find_view), name="find"),
            path("dashboard/", self.admin_view(self.dashboard_view), name="dashboard"),
            path(
                "dashboard/retry/",
                self.admin_view(require_POST(self.dashboard_retry_view)),
                name="dashboard_retry",
            ),
            path("visibility/", self.admin_view(self.visibility_view), name="visibility"),
            path("import/", self.admin_view(self.import_view), name="bulk_import"),
            path("bulk/", self.admin_view(self.bulk_view), name="bulk"),
            path(
                "bulk/confirm/",
                # Each row is its own transaction: not the request's one.
                transaction.non_atomic_requests(
                    self.admin_view(require_POST(self.bulk_confirm_view))
                ),
                name="bulk_confirm",
            ),
            path(
                "upcoming-expiries/", self.admin_view(self.expiries_view), name="upcoming_expiries"
            ),
            path("seats/", self.admin_view(self.seats_view), name="seats"),
            *super().get_urls(),
        ]

    def index(self, request, extra_context=None):
        """The front page: the dashboard, the Find box, then the apps."""
        return super().index(
            request, {**(extra_context or {}), "dashboard": dashboard_figures(user=request.user)}
        )

    def dashboard_view(self, request):
        """The dashboard alone (to keep open on a wall screen, or reload quickly)."""
        context = {
            **self.each_context(request),
            "title": _("Dashboard"),
            "dashboard": dashboard_figures(user=request.user),
        }
        return TemplateResponse(request, "admin/dashboard.html", context)

    def dashboard_retry_view(self, request):
        """Queue the failed rows of one queue again, through the queue's retry service (each
        row audited), a batch at a time; staff who may change the queue's rows only."""
        queue = request.POST.get("queue", "")
        permission = RETRY_PERMISSIONS.get(queue)
        if permission is None or not request.user.has_perm(permission):
            raise PermissionDenied
        ids = failed_ids(queue=queue)
        if queue == "certificates":
            retried = certificates_retry(certificate_ids=ids, actor=request.user)
        else:
            retried = deliveries_retry(delivery_ids=ids, actor=request.user)
        messages.success(
            request,
            ngettext(
                "%(count)d failed item queued again.",
                "%(count)d failed items queued again.",
                len(retried),
            )
            % {"count": len(retried)},
        )
        back = request.POST.get("next") == "dashboard"
        return redirect("admin:dashboard" if back else "admin:index")

    def expiries_view(self, request):
        """Subscriptions ending in the next 30, 60 or 90 days, by account, with reminders sent."""
        if not request.user.has_perm("entitlements.view_entitlement"):
            raise PermissionDenied
        within = (
            int(request.GET.get("within", "30"))
            if request.GET.get("within") in ("30", "60", "90")
            else 30
        )
        context = {
            **self.each_context(request),
            "title": _("Upcoming expiries"),
            "within": within,
            "choices": (30, 60, 90),
            "accounts": upcoming_expiries_by_account(today=business_today(), within_days=within),
        }
        return TemplateResponse(request, "admin/upcoming_expiries.html", context)

    def seats_view(self, request):
        """Seats owned, used and free per account and product, over every account: filtered
        by Account ID and product, a page of accounts at a time, or every row as CSV."""
        if not request.user.has_perms(SEATS_PERMISSIONS):
            raise PermissionDenied
        form = SeatsFilterForm(request.GET)
        today = business_today()
        if request.GET.get("format") == "csv":
            return seats_csv(form=form, today=today)
        query = request.GET.copy()
        query.pop("page", None)
        query.pop("format", None)
        context = {
            **self.each_context(request),
            "title": _("Seats owned and used"),
            "form": form,
            "today": today,
            "query": query.urlencode(),
            **seats_page(form=form, page_number=request.GET.get("page"), today=today),
        }
        return TemplateResponse(request, "admin/seats.html", context)

    def find_view(self, request):
        """One box that finds entitlements, orders and contacts by any of their keys.

        It searches only what is posted (with the form's CSRF token): a typed activation code
        must never sit in an address, where access logs, history and Referer headers keep
        it. An address's ?q= searches nothing and is not shown back.
        """
        query = request.POST.get("q", "").strip() if request.method == "POST" else ""
        results = record_search(query=query, user=request.user) if query else None
        context = {
            **self.each_context(request),
            "title": _("Find"),
            "query": query,
            "results": results,
        }
        return TemplateResponse(request, "admin/find.html", context)

    def visibility_view(self, request):
        """Why a contact sees an entitlement, or not: contact -> associations -> the
        entitlement's accounts and their roles. Either half alone lists its side."""
        if not (
            request.user.has_perm("entitlements.view_entitlement")
            and request.user.has_perm("accounts.view_contact")
        ):
            raise PermissionDenied
        contact_key = request.GET.get("contact", "").strip()
        ssrn = request.GET.get("ssrn", "").strip()
        contact = contact_by_key(key=contact_key) if contact_key else None
        entitlement = (
            entitlement_by_ssrn(text=ssrn).select_related("product").first() if ssrn else None
        )
        context = {
            **self.each_context(request),
            "title": _("Who sees what"),
            "contact_key": contact_key,
            "ssrn": ssrn,
            "contact": contact,
            "entitlement": entitlement,
            "explanation": (
                visibility_explain(contact=contact, entitlement=entitlement)
                if contact and entitlement
                else None
            ),
            "associations": (
                contact.associations.select_related("account").order_by("account__account_id")
                if contact
                else None
            ),
            "entitlement_accounts": (
                entitlement.entitlement_accounts.select_related("account")
                .prefetch_related("account__associations__contact__user")
                .order_by("role")
                if entitlement
                else None
            ),
        }
        return TemplateResponse(request, "admin/visibility.html", context)

    def bulk_view(self, request):
        """One action on many rows (a CSV file or a selection), previewed first."""
        return bulk_view(self, request)

    def bulk_confirm_view(self, request):
        """The confirmation of a bulk action's preview: each row's outcome."""
        return bulk_confirm_view(self, request)

    def import_view(self, request):
        """Upload an orders, catalog or accounts file, see every row's result, confirm."""
        kinds = {k: v for k, v in KINDS.items() if request.user.has_perm(v.permission)}
        if not kinds:
            raise PermissionDenied
        context = {**self.each_context(request), "title": _("Import a file"), "kinds": kinds}
        if request.method == "POST":
            kind = request.POST.get("kind", "")
            if kind not in kinds:
                raise PermissionDenied
            upload = request.FILES.get("file")
            limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
            too_large = upload is not None and limit is not None and upload.size > limit
            if upload is not None:
                name, text = upload.name, None if too_large else _decoded(upload)
            else:
                name, text = request.POST.get("name", "file"), request.POST.get("text", "")
            context.update(kind=kind, name=name, text=text)
            run = file_import if request.POST.get("confirm") else file_preview
            try:
                if too_large:
                    # The confirmation posts the text back as a form field, which Django
                    # refuses beyond this size: say so now rather than after the preview.
                    message = _("the file is larger than %(limit)s: split it")
                    raise Rejected([f"{name}: {message % {'limit': filesizeformat(limit)}}"])
                if text is None:
                    raise Rejected([f"{name}: {_('not UTF-8 text')}"])
                result = run(kind=kind, text=text, name=name, actor=request.user)
            except Rejected as rejected:
                context["errors"] = rejected.errors
            else:
                if run is file_import:
                    context["imported"] = result
                else:
                    context["preview"] = result
        return TemplateResponse(request, "admin/bulk_import.html", context)


def _decoded(upload) -> str | None:
    try:
        return upload.read().decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
