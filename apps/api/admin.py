from django import forms
from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _

from apps.api.models import ApiClient, Scope
from apps.api.services import api_client_create, api_client_scopes_set, api_clients_revoke
from apps.core.admin import ServiceRefused, ServiceSavedAdminMixin
from apps.core.contracts import Rejected


class ApiClientForm(forms.ModelForm):
    scopes = forms.MultipleChoiceField(
        label=_("scopes"),
        choices=Scope.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    class Meta:
        model = ApiClient
        fields = ["name", "scopes"]


@admin.register(ApiClient)
class ApiClientAdmin(ServiceSavedAdminMixin, admin.ModelAdmin):
    """Integration clients: the token shows once, when the client is created."""

    form = ApiClientForm
    list_display = [
        "name",
        "token_prefix",
        "scope_list",
        "created_at",
        "last_used_at",
        "revoked_at",
    ]
    list_filter = ["revoked_at"]
    search_fields = ["name", "token_prefix"]
    readonly_fields = ["token_prefix", "created_at", "last_used_at", "revoked_at"]
    actions = ["revoke"]

    @admin.display(description=_("scopes"))
    def scope_list(self, obj):
        return ", ".join(obj.scopes)

    def get_readonly_fields(self, request, obj=None):
        # The name identifies the client in the audit; make a new client to rename one.
        return [*self.readonly_fields, "name"] if obj else self.readonly_fields

    def save_model(self, request, obj, form, change):
        try:
            if change:
                api_client_scopes_set(
                    client_id=obj.pk, scopes=form.cleaned_data["scopes"], actor=request.user
                )
                return
            client, token = api_client_create(
                name=form.cleaned_data["name"],
                scopes=form.cleaned_data["scopes"],
                actor=request.user,
            )
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk = client.pk
        self.message_user(
            request,
            _("The token of %(name)s, shown this once: %(token)s")
            % {"name": client.name, "token": token},
            messages.WARNING,
        )

    @admin.action(description=_("Revoke: the token stops working at once"))
    def revoke(self, request, queryset):
        count = api_clients_revoke(
            client_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, _("Revoked: %(count)d.") % {"count": count}, messages.SUCCESS)
