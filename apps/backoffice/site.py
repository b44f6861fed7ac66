from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from apps.backoffice.expiries import upcoming_expiries_by_account
from apps.backoffice.selectors import record_search
from apps.core.dates import business_today


class KeyshipAdminSite(admin.AdminSite):
    site_header = _("Keyship back office")
    site_title = _("Keyship")
    index_title = _("Customer Care and Operations")
    index_template = "admin/keyship_index.html"

    def get_urls(self):
        return [
            path("find/", self.admin_view(self.find_view), name="find"),
            path(
                "upcoming-expiries/", self.admin_view(self.expiries_view), name="upcoming_expiries"
            ),
            *super().get_urls(),
        ]

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

    def find_view(self, request):
        """One box that finds entitlements, orders and contacts by any of their keys."""
        query = request.GET.get("q", "").strip()
        results = record_search(query=query, user=request.user) if query else None
        context = {
            **self.each_context(request),
            "title": _("Find"),
            "query": query,
            "results": results,
        }
        return TemplateResponse(request, "admin/find.html", context)
