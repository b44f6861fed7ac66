from django import forms
from django.contrib import admin, messages
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import AdminPasswordChangeForm
from django.forms.models import BaseInlineFormSet
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join
from django.utils.timezone import localtime
from django.utils.translation import gettext_lazy as _
from simple_history.admin import SimpleHistoryAdmin

from apps.accounts.customer_admins import access_requests_overrule
from apps.accounts.models import (
    AccessRequest,
    AccessRequestStatus,
    Account,
    AccountAssociation,
    Contact,
    User,
)
from apps.accounts.services import (
    access_requests_decide,
    account_association_delete,
    account_association_save,
    account_save,
    contact_save,
    user_password_set,
    user_save,
)
from apps.core.actors import ActorKind
from apps.core.admin import ServiceRefused, ServiceSavedAdminMixin, reason_or_form
from apps.core.contracts import Rejected
from apps.core.models import AuditEvent

ADMIN_PERMISSION = "accounts.change_accountassociation"


def _may_set_admin(request) -> bool:
    """Who may make a contact a customer admin, or no longer one."""
    return request.user.has_perm(ADMIN_PERMISSION)


class PasswordSetForm(AdminPasswordChangeForm):
    """The password page's form: UserAdmin saves what it says through user_password_set."""

    def save(self, commit=True):
        return self.user


@admin.register(User)
class UserAdmin(ServiceSavedAdminMixin, DjangoUserAdmin):
    """Logins, their status and roles, saved by user_save (audited, never the password)."""

    ordering = ["email"]
    list_display = ["email", "name", "is_staff", "is_active", "last_login"]
    list_filter = ["is_staff", "is_superuser", "is_active", "groups"]
    search_fields = ["email", "name"]
    readonly_fields = ["last_login", "date_joined"]
    fieldsets = [
        (None, {"fields": ["email", "password", "name"]}),
        (_("Permissions"), {"fields": ["is_active", "is_staff", "is_superuser", "groups"]}),
        (_("Dates"), {"fields": ["last_login", "date_joined"]}),
    ]
    add_fieldsets = [
        (None, {"classes": ["wide"], "fields": ["email", "name", "password1", "password2"]}),
    ]
    filter_horizontal = ["groups"]

    def save_model(self, request, obj, form, change):
        try:
            saved = user_save(
                user=obj if change else None,
                email=obj.email,
                name=obj.name,
                is_active=obj.is_active,
                is_staff=obj.is_staff,
                is_superuser=obj.is_superuser,
                groups=form.cleaned_data["groups"] if "groups" in form.cleaned_data else None,
                password=None if change else form.cleaned_data.get("password1") or None,
                actor=request.user,
            )
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk = saved.pk

    def save_related(self, request, form, formsets, change):
        pass  # user_save set the roles

    change_password_form = PasswordSetForm

    def construct_change_message(self, request, form, formsets, add=False):
        if isinstance(form, PasswordSetForm):
            # Django's password page saves its form and then builds this message, with the
            # request: the service runs here, where the actor is known, in the same request.
            password = (
                form.cleaned_data["password1"]
                if form.cleaned_data.get("set_usable_password")
                else None
            )
            saved = user_password_set(user=form.user, password=password, actor=request.user)
            form.user.password = saved.password  # keeps one's own session signed in
        return super().construct_change_message(request, form, formsets, add)


class AssociationSavesMixin:
    """Associations added, changed or removed on a contact's or an account's page go
    through the association services, each audited."""

    def save_formset(self, request, form, formset, change):
        if formset.model is not AccountAssociation:
            return super().save_formset(request, form, formset, change)
        deleted = formset.deleted_forms if formset.can_delete else []
        for row in deleted:
            if row.instance.pk:
                account_association_delete(association=row.instance, actor=request.user)
        for row in formset.forms:
            if row in deleted or not row.has_changed():
                continue
            association = row.instance
            setattr(association, formset.fk.name, formset.instance)
            try:
                account_association_save(
                    contact=association.contact,
                    account=association.account,
                    note=association.note,
                    association=association if association.pk else None,
                    is_admin=association.is_admin if _may_set_admin(request) else None,
                    actor=request.user,
                )
            except Rejected as rejected:
                raise ServiceRefused(rejected.errors) from None
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []


class AssociationInline(admin.TabularInline):
    model = AccountAssociation
    extra = 0
    readonly_fields = ["created_at"]
    verbose_name = _("associated account")
    verbose_name_plural = _("associated accounts (these decide what the contact sees)")

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if _may_set_admin(request) else [*fields, "is_admin"]


class ContactAssociationInline(AssociationInline):
    fields = ["account", "note", "is_admin", "created_at"]
    autocomplete_fields = ["account"]


class AccountContactInline(AssociationInline):
    fields = ["contact", "note", "is_admin", "created_at"]
    autocomplete_fields = ["contact"]
    verbose_name = _("associated contact")
    verbose_name_plural = _("associated contacts")


class AssociationHistoryFormSet(BaseInlineFormSet):
    @classmethod
    def get_default_prefix(cls):
        # The historical rows point back with related_name="+", which leaves no prefix.
        return "association_history"


class AssociationHistoryInline(admin.TabularInline):
    """Who associated or removed which account, and when."""

    model = AccountAssociation.history.model
    formset = AssociationHistoryFormSet
    fields = ["history_date", "history_user", "change", "account"]
    readonly_fields = fields
    ordering = ["-history_date"]
    extra = 0
    can_delete = False
    verbose_name = _("association change")
    verbose_name_plural = _("history of the associations")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("history_user", "account")

    @admin.display(description=_("change"))
    def change(self, obj):
        return {"+": _("associated"), "~": _("changed"), "-": _("removed")}[obj.history_type]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ContactHistoryInline(AssociationHistoryInline):
    fk_name = "contact"


class AccountHistoryInline(AssociationHistoryInline):
    fk_name = "account"
    fields = ["history_date", "history_user", "change", "contact"]
    readonly_fields = fields

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("contact__user")


class ContactForm(forms.ModelForm):
    email = forms.EmailField(label=_("email address"), help_text=_("The contact signs in with it."))
    name = forms.CharField(label=_("name"), max_length=200, required=False)

    class Meta:
        model = Contact
        fields = ["contact_id", "language"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            self.fields["email"].initial = self.instance.user.email
            self.fields["name"].initial = self.instance.user.name

    def clean_email(self):
        email = self.cleaned_data["email"]
        taken = User.objects.filter(email__iexact=email)
        if self.instance.pk:
            taken = taken.exclude(pk=self.instance.user_id)
        if taken.exists():
            raise forms.ValidationError(_("This address already belongs to another login."))
        return email


@admin.register(Contact)
class ContactAdmin(ServiceSavedAdminMixin, AssociationSavesMixin, admin.ModelAdmin):
    form = ContactForm
    list_display = ["contact_id", "email", "name", "language", "account_list"]
    list_filter = ["language"]
    search_fields = ["=contact_id", "user__email", "user__name"]
    list_select_related = ["user"]
    fields = ["contact_id", "email", "name", "language", "why", "created_at", "updated_at"]
    readonly_fields = ["why", "created_at", "updated_at"]
    inlines = [ContactAssociationInline, ContactHistoryInline]

    @admin.display(description=_("what the contact sees"))
    def why(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:visibility")
        return format_html(
            '<a href="{}?contact={}">{}</a>',
            url,
            obj.contact_id,
            _("Why does this contact see an entitlement, or not?"),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("accounts")

    @admin.display(description=_("email address"), ordering="user__email")
    def email(self, obj):
        return obj.user.email

    @admin.display(description=_("name"), ordering="user__name")
    def name(self, obj):
        return obj.user.name

    @admin.display(description=_("accounts"))
    def account_list(self, obj):
        return ", ".join(account.account_id for account in obj.accounts.all())

    def save_model(self, request, obj, form, change):
        try:
            saved = contact_save(
                contact_id=form.cleaned_data["contact_id"],
                email=form.cleaned_data["email"],
                name=form.cleaned_data["name"],
                language=form.cleaned_data["language"],
                actor=request.user,
                contact=obj if change else None,
            )
        except Rejected as rejected:  # a race with another edit; the form checked first
            raise ServiceRefused(rejected.errors) from None
        obj.pk, obj.user_id = saved.pk, saved.user_id


@admin.register(Account)
class AccountAdmin(ServiceSavedAdminMixin, AssociationSavesMixin, admin.ModelAdmin):
    list_display = ["account_id", "name", "kind", "entitlements_link"]
    list_filter = ["kind"]
    search_fields = ["=account_id", "name"]
    readonly_fields = ["created_at", "updated_at", "entitlements_link", "orders_link"]
    fields = [
        "account_id",
        "name",
        "kind",
        "entitlements_link",
        "orders_link",
        "created_at",
        "updated_at",
    ]
    inlines = [AccountContactInline, AccountHistoryInline]

    def save_model(self, request, obj, form, change):
        try:
            saved = account_save(
                account_id=obj.account_id,
                name=obj.name,
                kind=obj.kind,
                account=obj if change else None,
                actor=request.user,
            )
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk = saved.pk

    @admin.display(description=_("entitlements"))
    def entitlements_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:entitlements_entitlement_changelist")
        return format_html(
            '<a href="{}?accounts__account_id={}">{}</a>', url, obj.account_id, _("entitlements")
        )

    @admin.display(description=_("sales orders"))
    def orders_link(self, obj):
        if not obj.pk:
            return "-"
        url = reverse("admin:orders_salesorder_changelist")
        return format_html(
            '<a href="{}?order_accounts__account__account_id={}">{}</a>',
            url,
            obj.account_id,
            _("sales orders"),
        )


@admin.register(AccountAssociation)
class AccountAssociationAdmin(ServiceSavedAdminMixin, SimpleHistoryAdmin):
    list_display = ["contact", "contact_email", "account", "is_admin", "created_at"]
    list_filter = ["is_admin", "account__kind", "created_at"]
    search_fields = [
        "=contact__contact_id",
        "contact__user__email",
        "=account__account_id",
        "account__name",
    ]
    list_select_related = ["contact__user", "account"]
    autocomplete_fields = ["contact", "account"]
    readonly_fields = ["created_at"]

    def get_readonly_fields(self, request, obj=None):
        fields = list(super().get_readonly_fields(request, obj))
        return fields if _may_set_admin(request) else [*fields, "is_admin"]

    @admin.display(description=_("email address"), ordering="contact__user__email")
    def contact_email(self, obj):
        return obj.contact.user.email

    def save_model(self, request, obj, form, change):
        try:
            saved = account_association_save(
                contact=obj.contact,
                account=obj.account,
                note=obj.note,
                association=obj if change else None,
                is_admin=obj.is_admin if _may_set_admin(request) else None,
                actor=request.user,
            )
        except Rejected as rejected:
            raise ServiceRefused(rejected.errors) from None
        obj.pk, obj.created_at = saved.pk, saved.created_at

    def delete_model(self, request, obj):
        account_association_delete(association=obj, actor=request.user)

    def delete_queryset(self, request, queryset):
        for association in queryset:
            account_association_delete(association=association, actor=request.user)


ACTION_LABELS = {
    "access_request.created": _("asked"),
    "access_request.approved": _("approved"),
    "access_request.denied": _("denied"),
    "access_request.overruled": _("overruled"),
}


def _customer_admin_or_kind(event) -> str:
    # Only a customer admin decides access requests in the portal.
    if event.actor_kind == ActorKind.USER and event.action != "access_request.created":
        return _("customer admin")
    return event.get_actor_kind_display()


class AccessRequestStatusFilter(admin.SimpleListFilter):
    """Opens on the pending requests: the queue to work through."""

    title = _("status")
    parameter_name = "status"
    ALL = "all"

    def lookups(self, request, model_admin):
        return [*AccessRequestStatus.choices, (self.ALL, _("All"))]

    def value(self):
        return super().value() or AccessRequestStatus.PENDING

    def choices(self, changelist):
        for value, label in self.lookup_choices:
            yield {
                "selected": self.value() == value,
                "query_string": changelist.get_query_string({self.parameter_name: value}),
                "display": label,
            }

    def queryset(self, request, queryset):
        if self.value() in AccessRequestStatus.values:
            return queryset.filter(status=self.value())
        return queryset


@admin.register(AccessRequest)
class AccessRequestAdmin(admin.ModelAdmin):
    """Contacts asking to see an account: approve (which associates) or deny, one or many."""

    list_display = [
        "created_at",
        "contact",
        "contact_email",
        "requested_account_id",
        "account",
        "reason",
        "status",
        "decided_by",
        "decided_by_customer_admin",
        "decided_at",
    ]
    list_filter = [AccessRequestStatusFilter, "decided_by_customer_admin", "created_at"]
    search_fields = [
        "=contact__contact_id",
        "contact__user__email",
        "=requested_account_id",
        "account__name",
    ]
    list_select_related = ["contact__user", "account", "decided_by"]
    autocomplete_fields = ["contact", "account"]
    fields = [
        "contact",
        "requested_account_id",
        "account",
        "reason",
        "status",
        "decided_by",
        "decided_by_customer_admin",
        "decided_at",
        "decision_note",
        "created_at",
        "decisions",
    ]
    readonly_fields = fields
    actions = ["approve", "deny", "overrule"]
    date_hierarchy = "created_at"

    @admin.display(description=_("email address"), ordering="contact__user__email")
    def contact_email(self, obj):
        return obj.contact.user.email

    @admin.display(description=_("decisions"))
    def decisions(self, obj):
        """Who asked, decided and overruled, from the audit log: a customer admin's decision
        that Customer Care overruled stays visible here."""
        events = AuditEvent.objects.filter(
            target_type=AccessRequest._meta.label_lower,
            target_id=str(obj.pk),
            action__startswith="access_request.",
        ).order_by("pk")
        if not events:
            return "-"
        rows = [
            format_html(
                "<li>{} &middot; {} &middot; {} ({}){}</li>",
                date_format(localtime(event.created_at), "DATETIME_FORMAT"),
                ACTION_LABELS.get(event.action, event.action),
                event.actor_name,
                _customer_admin_or_kind(event),
                format_html(": {}", event.message) if event.message else "",
            )
            for event in events
        ]
        return format_html("<ul>{}</ul>", format_html_join("", "{}", ((row,) for row in rows)))

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        # Approve and deny (services) decide a request; its page itself stays read-only.
        return obj is None and request.user.has_perm("accounts.change_accessrequest")

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description=_("Approve: associate the contact with the account"), permissions=["change"]
    )
    def approve(self, request, queryset):
        decided = access_requests_decide(
            request_ids=list(queryset.values_list("pk", flat=True)),
            approve=True,
            actor=request.user,
        )
        unknown = queryset.filter(status=AccessRequestStatus.PENDING, account__isnull=True)
        unknown_ids = sorted(set(unknown.values_list("requested_account_id", flat=True)))
        if unknown_ids:
            self.message_user(
                request,
                _(
                    "No account has the Account ID %(account_ids)s, so nothing was approved for "
                    "it: deny the request, or approve it once the account is there."
                )
                % {"account_ids": ", ".join(unknown_ids)},
                messages.WARNING,
            )
        self._report(request, queryset.exclude(pk__in=unknown), decided)

    @admin.action(description=_("Deny (with a note to the contact)"), permissions=["change"])
    def deny(self, request, queryset):
        note, page = reason_or_form(
            self, request, queryset, title=_("Deny access requests"), action="deny"
        )
        if page:
            return page
        decided = access_requests_decide(
            request_ids=list(queryset.values_list("pk", flat=True)),
            approve=False,
            actor=request.user,
            note=note,
        )
        self._report(request, queryset, decided)

    @admin.action(
        description=_("Overrule the decision (an approval is undone, a denial approved)"),
        permissions=["change"],
    )
    def overrule(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Overrule access decisions"), action="overrule"
        )
        if page:
            return page
        report = access_requests_overrule(
            request_ids=list(queryset.values_list("pk", flat=True)),
            reason=reason,
            actor=request.user,
        )
        if report.overruled:
            self.message_user(
                request,
                _("Overruled: %(count)d. Each contact is told by email.")
                % {"count": len(report.overruled)},
                messages.SUCCESS,
            )
        if not report.overruled and not report.left:
            self.message_user(
                request,
                _(
                    "Nothing was overruled: choose decided requests (the status filter's "
                    "Approved, Denied or All)."
                ),
                messages.WARNING,
            )
        for access_request, why in report.left:
            self.message_user(
                request,
                _("Left alone: %(request)s, as %(why)s.")
                % {"request": access_request, "why": why},
                messages.WARNING,
            )

    def _report(self, request, queryset, decided: int):
        self.message_user(
            request,
            _("Decided: %(count)d. Each contact is told by email.") % {"count": decided},
            messages.SUCCESS,
        )
        skipped = queryset.count() - decided
        if skipped:
            self.message_user(
                request,
                _("Left alone, as they were decided already: %(count)d.") % {"count": skipped},
                messages.WARNING,
            )
