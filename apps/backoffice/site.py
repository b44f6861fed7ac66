from django.contrib import admin
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.translation import gettext_lazy as _

from apps.backoffice.selectors import record_search


class KeyshipAdminSite(admin.AdminSite):
    site_header = _("Keyship back office")
    site_title = _("Keyship")
    index_title = _("Customer Care and Operations")
    index_template = "admin/keyship_index.html"

    def get_urls(self):
        return [path("find/", self.admin_view(self.find_view), name="find"), *super().get_urls()]

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
