from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from apps.core.admin import LargeTableAdmin, ServiceRefused, ServiceSavedAdminMixin
from apps.core.contracts import Rejected
from apps.core.sealing import legacy_key_digest
from apps.entitlements.models import Entitlement
from apps.lms.models import LegacyKey, LegacyKeyState
from apps.lms.selectors import legacy_key_pools
from apps.lms.services import (
    legacy_key_add,
    legacy_key_upload_import,
    legacy_key_upload_keep,
    legacy_keys_delete,
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
    """A key to add to a pool (stored sealed, through legacy_key_add); refuses a key that is
    in a pool already (by its digest)."""

    license_key = forms.CharField(label=_("license key"), widget=forms.Textarea(attrs={"rows": 3}))

    class Meta:
        model = LegacyKey
        fields = ["product", "extra"]

    def clean_license_key(self):
        key = self.cleaned_data["license_key"].strip()
        taken = LegacyKey.objects.filter(license_key_digest=legacy_key_digest(key))
        if taken.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError(_("This key is in a pool already."))
        return key


@admin.register(LegacyKey)
class LegacyKeyAdmin(ServiceSavedAdminMixin, LargeTableAdmin):
    """Keys are added (one here, or a file with "Import a CSV file") through the import's
    service and checks. A key in a pool no longer changes: what it says is what the LMS
    issued, and a key handed out is in a customer's email."""

    # Keys are secrets: lists show them masked; the change page shows the whole key (see
    # get_fields for a key handed out).
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

    def has_change_permission(self, request, obj=None):
        return False

    def get_fields(self, request, obj=None):
        if obj is None:
            return ["product", "license_key", "extra"]
        # Who keeps the pools sees a key in its pool whole; a key handed out is the
        # customer's, like an activation code: whole only to staff who may see codes.
        whole = obj.state == LegacyKeyState.AVAILABLE or request.user.has_perm(
            "entitlements.view_activation_code"
        )
        key = "license_key" if whole else "masked_key"
        return [key if name == "license_key" else name for name in self.fields] + ["why_read_only"]

    @admin.display(description=_("changes"))
    def why_read_only(self, obj):
        return _(
            "A key in a pool does not change: it is what the legacy LMS issued. Delete a wrong "
            "key that is still available, and add the right one."
        )

    def save_model(self, request, obj, form, change):
        try:
            key = legacy_key_add(
                product=form.cleaned_data["product"],
                license_key=form.cleaned_data["license_key"],
                extra=form.cleaned_data.get("extra") or {},
                actor=request.user,
            )
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk, obj.license_key_sealed = key.pk, key.license_key_sealed

    def get_deleted_objects(self, objs, request):
        # A key handed out is the customer's: its entitlement protects it, as the page says.
        deleted, counts, perms_needed, protected = super().get_deleted_objects(objs, request)
        label = capfirst(Entitlement._meta.verbose_name)
        protected = [
            *protected,
            *(
                f"{label}: {key.entitlement}"
                for key in objs
                if key.state != LegacyKeyState.AVAILABLE
            ),
        ]
        return deleted, counts, perms_needed, protected

    def delete_model(self, request, obj):
        self.delete_queryset(request, LegacyKey.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        try:
            legacy_keys_delete(
                key_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
            )
        except Rejected as rejected:  # handed out since the confirmation page
            raise PermissionDenied("; ".join(rejected.errors)) from None

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
