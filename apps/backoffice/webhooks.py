"""The admin of webhook endpoints: registered, changed, disabled, enabled, tested and deleted
through the outbox's services, with their deliveries one click away.

It lives here, above the accounts, so that the Account IDs of a customer's endpoint are
checked against the accounts that exist (the outbox sits below them).
"""

import re

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from apps.accounts.models import account_id_validator
from apps.accounts.selectors import unknown_account_ids
from apps.core import sealing
from apps.core.admin import ServiceRefused, ServiceSavedAdminMixin
from apps.core.contracts import Rejected
from apps.outbox.endpoints import (
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_test,
    webhook_endpoint_update,
    webhook_endpoints_disable,
    webhook_endpoints_enable,
)
from apps.outbox.events import EVENT_TYPES
from apps.outbox.models import WebhookEndpoint

# The new secret waits in the server-side session (sealed) for the one page that shows it:
# not in a message, which may travel in a cookie, nor in an address.
SECRET_SESSION_KEY = "keyship_webhook_secret"


class WebhookEndpointForm(forms.ModelForm):
    url = forms.CharField(
        label=gettext_lazy("URL"),
        max_length=2000,
        widget=forms.URLInput(attrs={"size": 80}),
        help_text=gettext_lazy(
            "A public https:// address; loopback and private targets are refused."
        ),
    )
    events = forms.MultipleChoiceField(
        label=gettext_lazy("event types"),
        choices=list(EVENT_TYPES.items()),
        widget=forms.CheckboxSelectMultiple,
    )
    account_ids = forms.CharField(
        label=gettext_lazy("Account IDs"),
        required=False,
        help_text=gettext_lazy(
            "Leave empty for the ERP (every event of its types). For a customer's endpoint, "
            "the Account IDs whose events it receives, separated by commas or spaces."
        ),
    )

    class Meta:
        model = WebhookEndpoint
        fields = ["url", "description", "events", "account_ids", "owner_email"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.initial["account_ids"] = ", ".join(self.instance.account_ids)

    def clean_account_ids(self):
        ids = [word for word in re.split(r"[,;\s]+", self.cleaned_data["account_ids"]) if word]
        problems = []
        for account_id in ids:
            try:
                account_id_validator(account_id)
            except forms.ValidationError:
                problems.append(
                    _('"%(value)s" is not an Account ID (4 to 20 digits).')
                    % {"value": account_id[:30]}
                )
        if not problems:
            problems = [
                _("No account has the Account ID %(account_id)s.") % {"account_id": account_id}
                for account_id in unknown_account_ids(ids)
            ]
        if problems:
            raise forms.ValidationError(problems)
        return ids


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(ServiceSavedAdminMixin, admin.ModelAdmin):
    """Endpoints of the ERP and of customers' systems. The signing secret shows once, on the
    page after the endpoint is added."""

    form = WebhookEndpointForm
    list_display = [
        "url",
        "description",
        "receives",
        "event_count",
        "active",
        "consecutive_failures",
        "deliveries_link",
        "created_at",
    ]
    list_filter = ["active", "created_at"]
    search_fields = ["url", "description", "owner_email"]
    list_select_related = []
    readonly_fields = [
        "active",
        "disabled_at",
        "disabled_reason",
        "consecutive_failures",
        "api_client_id",
        "created_by",
        "created_at",
        "updated_at",
        "deliveries_link",
    ]
    actions = ["disable", "enable", "send_test_event"]

    @admin.display(description=gettext_lazy("receives"))
    def receives(self, obj):
        if not obj.account_ids:
            return _("every account's events (ERP)")
        return _("events of %(accounts)s") % {"accounts": ", ".join(obj.account_ids)}

    @admin.display(description=gettext_lazy("event types"))
    def event_count(self, obj):
        return len(obj.events)

    @admin.display(description=gettext_lazy("delivery history"))
    def deliveries_link(self, obj):
        if obj is None or obj.pk is None:
            return "-"
        url = reverse("admin:outbox_delivery_changelist") + f"?endpoint__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, _("Deliveries and their attempts"))

    def save_model(self, request, obj, form, change):
        values = {name: form.cleaned_data[name] for name in WebhookEndpointForm.Meta.fields}
        try:
            if change:
                webhook_endpoint_update(endpoint_id=obj.pk, actor=request.user, **values)
                return
            endpoint, secret = webhook_endpoint_create(**values, actor=request.user)
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk = endpoint.pk
        request.session[SECRET_SESSION_KEY] = {
            "endpoint": endpoint.pk,
            "sealed": sealing.seal(secret),
        }

    def response_add(self, request, obj, post_url_continue=None):
        return HttpResponseRedirect(reverse("admin:outbox_webhookendpoint_secret", args=[obj.pk]))

    def get_urls(self):
        return [
            path(
                "<int:endpoint_id>/secret/",
                self.admin_site.admin_view(self.secret_view),
                name="outbox_webhookendpoint_secret",
            ),
            *super().get_urls(),
        ]

    def secret_view(self, request, endpoint_id: int):
        """The new endpoint's signing secret, this once: a reload no longer shows it."""
        if not self.has_add_permission(request):
            raise PermissionDenied
        endpoint = WebhookEndpoint.objects.filter(pk=endpoint_id).first()
        stored = request.session.get(SECRET_SESSION_KEY) or {}
        secret = None
        if endpoint is not None and stored.get("endpoint") == endpoint.pk:
            secret = sealing.unseal(stored["sealed"])
            del request.session[SECRET_SESSION_KEY]
        context = {
            **self.admin_site.each_context(request),
            "title": _("The endpoint's signing secret"),
            "opts": self.model._meta,
            "endpoint": endpoint,
            "secret": secret,
        }
        response = TemplateResponse(request, "admin/webhook_secret.html", context)
        response["Cache-Control"] = "no-store"
        return response

    def delete_model(self, request, obj):
        webhook_endpoint_delete(endpoint_id=obj.pk, actor=request.user)

    def delete_queryset(self, request, queryset):
        for pk in list(queryset.values_list("pk", flat=True)):
            webhook_endpoint_delete(endpoint_id=pk, actor=request.user)

    @admin.action(
        description=gettext_lazy("Disable: send them nothing more"), permissions=["change"]
    )
    def disable(self, request, queryset):
        done = webhook_endpoints_disable(
            endpoint_ids=list(queryset.values_list("pk", flat=True)),
            actor=request.user,
            reason=_("disabled by %(user)s") % {"user": request.user.email},
        )
        self.message_user(
            request,
            ngettext("%d endpoint disabled.", "%d endpoints disabled.", len(done)) % len(done),
            messages.SUCCESS,
        )

    @admin.action(
        description=gettext_lazy("Enable: send them the events from now on"), permissions=["change"]
    )
    def enable(self, request, queryset):
        done = webhook_endpoints_enable(
            endpoint_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(
            request,
            ngettext("%d endpoint enabled.", "%d endpoints enabled.", len(done)) % len(done),
            messages.SUCCESS,
        )

    @admin.action(description=gettext_lazy("Send a test event"), permissions=["change"])
    def send_test_event(self, request, queryset):
        rows = list(queryset.values_list("pk", flat=True))
        for pk in rows:
            webhook_endpoint_test(endpoint_id=pk, actor=request.user)
        self.message_user(
            request,
            ngettext(
                "A test event is on its way to %d endpoint; see its deliveries.",
                "A test event is on its way to %d endpoints; see their deliveries.",
                len(rows),
            )
            % len(rows),
            messages.SUCCESS,
        )
