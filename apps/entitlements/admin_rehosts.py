"""Rehost (RMA) in the admin: Customer Care decides the portal's requests, or moves an
activation to a replacement device itself. Each page says what will happen (the failed
device, its replacement, the seats unchanged) before anything is done; the services in
rehosts.py do it."""

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from apps.core.bulk_admin import BulkActionAdminMixin
from apps.core.contracts import Rejected
from apps.entitlements.models import Activation, RehostRequest, RehostRequestStatus
from apps.entitlements.rehosts import (
    NOTE_MAX_LENGTH,
    REASON_MAX_LENGTH,
    activation_rehost,
    rehost_preview,
    rehost_request_approve,
    rehost_request_deny,
    serial_number_clean,
)


class RehostForm(forms.Form):
    new_serial_number = forms.CharField(
        label=_("Replacement serial number"),
        max_length=200,
        help_text=_("The serial number of the device that replaces the failed one."),
    )
    reason = forms.CharField(
        label=_("Reason (told to the customer's contacts)"), max_length=REASON_MAX_LENGTH
    )

    def clean_new_serial_number(self):
        try:
            return serial_number_clean(self.cleaned_data["new_serial_number"])
        except Rejected as rejected:
            raise forms.ValidationError(rejected.errors) from rejected


class ActivationRehostMixin:
    """The activation admin's "rehost" action and its page: a form for the replacement's
    serial number and the reason, a preview, then the rehost."""

    def has_rehost_permission(self, request):
        return request.user.has_perm("entitlements.rehost_activation")

    @admin.action(
        description=_("Rehost (RMA): move to a replacement device"), permissions=["rehost"]
    )
    def rehost(self, request, queryset):
        activations = list(queryset[:2])
        if len(activations) != 1:
            self.message_user(
                request, _("Choose one activation to move at a time."), messages.ERROR
            )
            return None
        (activation,) = activations
        if activation.revoked_at is not None:
            self.message_user(
                request,
                _("The activation of %(serial)s is revoked already: only a live one is moved.")
                % {"serial": activation.serial_number},
                messages.ERROR,
            )
            return None
        self.message_user(
            request,
            _("Give the serial number of the device that replaces %(serial)s.")
            % {"serial": activation.serial_number},
            messages.INFO,
        )
        return redirect("admin:entitlements_activation_rehost", activation.pk)

    def get_urls(self):
        view = self.admin_site.admin_view(self.rehost_view)
        return [
            path("<int:pk>/rehost/", view, name="entitlements_activation_rehost"),
            *super().get_urls(),
        ]

    def rehost_view(self, request, pk):
        if not self.has_rehost_permission(request):
            raise PermissionDenied
        activation = get_object_or_404(Activation.objects.select_related("entitlement"), pk=pk)
        form = RehostForm(request.POST if request.method == "POST" else None)
        preview = None
        if request.method == "POST" and form.is_valid():
            preview = rehost_preview(
                activation=activation,
                new_serial_number=form.cleaned_data["new_serial_number"],
            )
            if request.POST.get("confirm") and not preview.problem:
                try:
                    new = activation_rehost(
                        activation_id=activation.pk,
                        new_serial_number=form.cleaned_data["new_serial_number"],
                        reason=form.cleaned_data["reason"],
                        actor=request.user,
                    )
                except Rejected as rejected:
                    for error in rejected.errors:
                        form.add_error(None, error)
                else:
                    self.message_user(
                        request,
                        _(
                            "%(serial)s moved to %(new)s: its key is revoked, the new device "
                            "has a new key, the seats in use are unchanged."
                        )
                        % {"serial": activation.serial_number, "new": new.serial_number},
                        messages.SUCCESS,
                    )
                    return redirect("admin:entitlements_activation_change", new.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": _("Rehost %(serial)s to a replacement device")
            % {"serial": activation.serial_number},
            "opts": Activation._meta,
            "activation": activation,
            "form": form,
            "preview": preview,
        }
        return TemplateResponse(request, "admin/entitlements/rehost.html", context)


class RehostStatusFilter(admin.SimpleListFilter):
    """Opens on the pending requests: the queue to work through."""

    title = _("status")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*RehostRequestStatus.choices, (self.ALL, _("All"))]

    def value(self):
        return super().value() or RehostRequestStatus.PENDING

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() in RehostRequestStatus.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(RehostRequest)
class RehostRequestAdmin(BulkActionAdminMixin, admin.ModelAdmin):
    """Portal users asking to move an activation to a replacement device: approve (which
    rehosts) or deny, after a page that says what will happen."""

    list_display = [
        "created_at",
        "ssrn",
        "serial_number",
        "new_serial_number",
        "requested_by",
        "reason",
        "status",
        "decided_by",
        "decided_at",
    ]
    list_filter = [RehostStatusFilter, "created_at"]
    search_fields = [
        "=activation__entitlement__ssrn",
        "=activation__serial_number",
        "=new_serial_number",
        "requested_by__email",
    ]
    search_help_text = _("An SSRN, a serial number or the requester's email address.")
    list_select_related = ["activation__entitlement", "requested_by", "decided_by"]
    fields = [
        "ssrn",
        "activation",
        "serial_number",
        "new_serial_number",
        "reason",
        "requested_by",
        "language",
        "status",
        "decided_by",
        "decided_at",
        "decision_note",
        "new_activation",
        "created_at",
    ]
    readonly_fields = fields
    actions = ["approve", "deny", "bulk"]
    bulk_kind = "rehost_request"
    date_hierarchy = "created_at"

    @admin.display(description=_("SSRN"), ordering="activation__entitlement__ssrn")
    def ssrn(self, obj):
        url = reverse("admin:entitlements_entitlement_change", args=[obj.activation.entitlement_id])
        return format_html('<a href="{}">{}</a>', url, obj.activation.entitlement.ssrn)

    @admin.display(description=_("failed device"), ordering="activation__serial_number")
    def serial_number(self, obj):
        return obj.activation.serial_number

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Approve and deny (services) decide a request; its page itself stays read-only.
        return obj is None and request.user.has_perm("entitlements.change_rehostrequest")

    def has_delete_permission(self, request, obj=None):
        return False

    def _confirm_page(self, request, queryset, *, action, title, note_required):
        """The page that says what each request would do and asks for the note; None once
        it is confirmed (with a note where one is needed)."""
        note = " ".join(request.POST.get("reason", "").split())
        if request.POST.get("confirm") and (note or not note_required):
            return None
        rows = [
            (
                rehost_request,
                rehost_preview(
                    activation=rehost_request.activation,
                    new_serial_number=rehost_request.new_serial_number,
                ),
            )
            for rehost_request in queryset.select_related("activation__entitlement")
        ]
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "rows": rows,
            "action": action,
            "approve": action == "approve",
            "note_required": note_required,
            "note_max_length": NOTE_MAX_LENGTH,
            "missing": bool(request.POST.get("confirm")),
            "opts": RehostRequest._meta,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        }
        return TemplateResponse(request, "admin/entitlements/rehost_decide.html", context)

    def _decide(self, request, queryset, *, service, done):
        note = " ".join(request.POST.get("reason", "").split())
        decided = 0
        # One service call (one transaction) per request: a refused one changes nothing and
        # does not stop the others.
        for request_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                service(request_id=request_id, actor=request.user, note=note)
            except Rejected as rejected:
                for error in rejected.errors:
                    self.message_user(request, error, messages.ERROR)
            else:
                decided += 1
        if decided:
            self.message_user(request, done % {"count": decided}, messages.SUCCESS)

    @admin.action(
        description=_("Approve: move the activation to the replacement device"),
        permissions=["change"],
    )
    def approve(self, request, queryset):
        page = self._confirm_page(
            request,
            queryset,
            action="approve",
            title=_("Approve rehost requests"),
            note_required=False,
        )
        if page:
            return page
        self._decide(
            request,
            queryset,
            service=rehost_request_approve,
            done=_("Approved and rehosted: %(count)d. The requesters and contacts are told."),
        )
        return None

    @admin.action(description=_("Deny (with a note to the requester)"), permissions=["change"])
    def deny(self, request, queryset):
        page = self._confirm_page(
            request, queryset, action="deny", title=_("Deny rehost requests"), note_required=True
        )
        if page:
            return page
        self._decide(
            request,
            queryset,
            service=rehost_request_deny,
            done=_("Denied: %(count)d. Each requester is told by email."),
        )
        return None
