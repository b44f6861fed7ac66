from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.translation import gettext_lazy as _

from apps.core.admin import LargeTableAdmin
from apps.core.contracts import Rejected
from apps.core.sealing import legacy_key_digest
from apps.lms.models import LegacyKey
from apps.lms.selectors import legacy_key_pools
from apps.lms.services import (
    legacy_key_upload_import,
    legacy_key_upload_keep,
    legacy_keys_plan,
)

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


class LegacyKeyForm(forms.ModelForm):
    """The key is stored sealed: the form reads and writes it through the model's
    `license_key`, and refuses a key that is in a pool already (by its digest)."""

    license_key = forms.CharField(label=_("license key"), widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = LegacyKey
        fields = ["product", "extra"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.license_key_sealed:
            self.fields["license_key"].initial = self.instance.license_key

    def clean_license_key(self):
        key = self.cleaned_data["license_key"].strip()
        taken = LegacyKey.objects.filter(license_key_digest=legacy_key_digest(key))
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("This key is in a pool already."))
        return key

    def save(self, commit=True):
        self.instance.license_key = self.cleaned_data["license_key"]
        return super().save(commit=commit)


@admin.register(LegacyKey)
class LegacyKeyAdmin(LargeTableAdmin):
    # Keys are secrets: lists show them masked; the change page shows the whole key.
    list_display = ["product", "masked_key", "state", "entitlement", "assigned_at"]
    list_filter = ["state", "product"]
    search_lookups = ["product__sku", "entitlement__ssrn"]
    search_help_text = _("A SKU, or the SSRN a key was assigned to.")
    list_select_related = ["product", "entitlement"]
    autocomplete_fields = ["product"]
    form = LegacyKeyForm
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
        """Upload, preview every row (errors by line, keys masked), then confirm. The file
        stays on the server between the two (sealed, for this user only, for an hour): the
        page carries its id, never its keys, and the confirmation imports it through the
        all-or-nothing service."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        context = {**self.admin_site.each_context(request), "opts": self.model._meta}
        context["title"] = _("Import legacy keys")
        if request.method == "POST" and request.POST.get("confirm"):
            try:
                result = legacy_key_upload_import(
                    upload_id=request.POST.get("upload", ""), actor=request.user
                )
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
                    context.update(plan=plan, name=name)
                    if not plan.problems:
                        context["upload"] = legacy_key_upload_keep(
                            name=name, text=text, actor=request.user
                        )
        else:
            context["form"] = KeyFileForm()
        return TemplateResponse(request, "admin/lms/legacykey/import.html", context)
