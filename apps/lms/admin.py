from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from apps.core.admin import LargeTableAdmin
from apps.core.contracts import Rejected
from apps.lms.models import LegacyKey
from apps.lms.selectors import legacy_key_pools
from apps.lms.services import legacy_keys_import, legacy_keys_plan

MAX_UPLOAD = 20 * 1024 * 1024  # a million keys of about twenty characters


class KeyFileForm(forms.Form):
    file = forms.FileField(
        label=_("CSV file"), help_text=_("A header line sku,license_key; more columns are kept.")
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            raise forms.ValidationError(_("The file is larger than 20 MB: split it."))
        try:
            return upload.name, upload.read().decode("utf-8-sig")
        except UnicodeDecodeError:
            raise forms.ValidationError(_("The file is not UTF-8 text.")) from None


@admin.register(LegacyKey)
class LegacyKeyAdmin(LargeTableAdmin):
    # Keys are secrets: lists show them masked; the change page shows the whole key.
    list_display = ["product", "masked_key", "state", "entitlement", "assigned_at"]
    list_filter = ["state", "product"]
    search_lookups = ["product__sku", "entitlement__ssrn"]
    search_help_text = _("A SKU, or the SSRN a key was assigned to.")
    list_select_related = ["product", "entitlement"]
    autocomplete_fields = ["product"]
    readonly_fields = ["state", "entitlement", "assigned_at", "created_at", "updated_at"]
    fields = ["product", "license_key", "extra", *readonly_fields]

    @admin.display(description=_("license key"))
    def masked_key(self, obj):
        return obj.masked

    def changelist_view(self, request, extra_context=None):
        # Each pool's counts above the list, with a warning where keys run short.
        return super().changelist_view(
            request, {**(extra_context or {}), "pools": legacy_key_pools()}
        )

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="lms_legacykey_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        """Upload, preview every row (errors by line, keys masked), then confirm: the
        confirmation imports the same text again through the all-or-nothing service."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta}
        context["title"] = _("Import legacy keys")
        if request.method == "POST" and request.POST.get("confirm"):
            text, name = request.POST.get("text", ""), request.POST.get("name", "file")
            try:
                result = legacy_keys_import(text=text, source=name, actor=request.user)
            except Rejected as rejected:
                context.update(form=KeyFileForm(), errors=rejected.errors)
            else:
                for what, outcome in result.rows:
                    self.message_user(request, f"{what}: {outcome}", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:lms_legacykey_changelist"))
        elif request.method == "POST":
            form = KeyFileForm(request.POST, request.FILES)
            context["form"] = form
            if form.is_valid():
                name, text = form.cleaned_data["file"]
                try:
                    plan = legacy_keys_plan(text=text, source=name)
                except Rejected as rejected:
                    context["errors"] = rejected.errors
                else:
                    context.update(plan=plan, text=text, name=name)
        else:
            context["form"] = KeyFileForm()
        return TemplateResponse(request, "admin/lms/legacykey/import.html", context)
