from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.views.main import SEARCH_VAR
from django.core.paginator import Paginator
from django.db import connections
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.functional import cached_property
from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.core.codes import CodeKind, parse_code
from apps.core.models import AuditEvent

# Below this many rows an exact count is cheap enough; above it an unfiltered changelist
# shows PostgreSQL's planner estimate instead of scanning the whole table.
EXACT_COUNT_LIMIT = 100_000


class EstimatedCountPaginator(Paginator):
    """A paginator that does not COUNT(*) a big table when nothing filters it."""

    @cached_property
    def count(self):
        query = self.object_list.query
        connection = connections[self.object_list.db]
        if connection.vendor == "postgresql" and not query.where and not query.distinct:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                row = cursor.fetchone()
            if row and row[0] > EXACT_COUNT_LIMIT:
                return row[0]
        return super().count


class LargeTableAdmin(admin.ModelAdmin):
    """A changelist for a table that grows with the business: no full counts, lean pages,
    and a search that finds rows by exact keys.

    Django's own search ORs its lookups across joins, which makes PostgreSQL scan the whole
    table. Here each lookup of `search_lookups` runs alone, on its own index, and the page
    shows the union of their rows. A lookup that ends in `__lower` is given the term in lower
    case, to meet an index on LOWER(column).

    No changelist searches by activation code: its search is a GET, so the code would sit in
    the address, the browser's history, Referer headers and access logs. A term shaped like
    a code (mistyped ones too) matches nothing, and the page points to Find, which searches
    by POST.
    """

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50
    search_lookups: list[str] = []
    # A search box answers a person: past this many rows per key, they narrow it down.
    search_limit = 1000

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Shows the search box and serves autocompletes; get_search_results does the work.
        self.search_fields = list(self.search_lookups)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if parse_code(term).kind == CodeKind.ACTIVATION_CODE:
            if SEARCH_VAR in request.GET:  # the changelist's box, not an autocomplete
                self.message_user(request, self._code_search_message(), messages.WARNING)
            return queryset.none(), False
        return queryset.filter(pk__in=self.search_ids(term)), False

    def _code_search_message(self) -> str:
        find = format_html(
            '<a href="{}">{}</a>', reverse(f"{self.admin_site.name}:find"), gettext("Find")
        )
        text = gettext(
            "This looks like an activation code. Lists do not search by activation code, as "
            "their search is kept in the page's address; search for it with %(find)s."
        )
        # The text is escaped before the one link goes in.
        return mark_safe(escape(text) % {"find": find})

    def search_ids(self, term: str) -> set:
        ids = set()
        manager = self.model._default_manager
        for lookup in self.search_lookups:
            value = term.lower() if lookup.endswith("__lower") else term
            ids.update(
                manager.filter(**{lookup: value}).values_list("pk", flat=True)[: self.search_limit]
            )
        return ids


class ServiceRefused(Exception):
    """Raised by an admin's save when its service refused the input (see ServiceSavedAdminMixin)."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


class ServiceSavedAdminMixin:
    """For an admin whose form is saved by a service, the same one the API and the imports
    call, with its rules (a shipped line is final, a change is a Conflict, ...).

    The service runs once the form and its inlines are valid, in save_model or save_related,
    inside the transaction of the admin's view. When it refuses, the save raises
    ServiceRefused: the transaction rolls back, so nothing is written, and the page comes
    back with what was posted and the service's errors above the form, each saying what and
    where. The admin's own change log is written by the service's audit event instead, so
    the formsets are not saved by Django.
    """

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ServiceRefused as refused:
            # The view's transaction is undone; show the posted form again, with the errors.
            request.service_errors = refused.errors
            return super().changeform_view(request, object_id, form_url, extra_context)

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        errors = getattr(request, "service_errors", None)
        if not errors:
            return form

        class RefusedForm(form):
            def clean(self):
                cleaned = super().clean()
                for error in errors:
                    self.add_error(None, error)
                return cleaned

        return RefusedForm

    def has_delete_permission(self, request, obj=None):
        # Django's own delete writes no audit event: an admin deletes only through its own
        # delete_model and delete_queryset, which call a service.
        if type(self).delete_model is admin.ModelAdmin.delete_model:
            return False
        return super().has_delete_permission(request, obj)

    def construct_change_message(self, request, form, formsets, add=False):
        for formset in formsets or []:  # the service saved them; Django's log reads these
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        return super().construct_change_message(request, form, formsets, add)


class ReadOnlyAdminMixin:
    """For rows that only services write: the admin shows them and changes nothing."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    list_display = ["created_at", "actor_display", "action", "target_type", "target_id", "message"]
    list_filter = ["actor_kind", "action", "target_type"]
    search_lookups = ["target_id", "actor_name__lower", "actor__email__lower"]
    search_help_text = _(
        "The id of the object, or the name or email address of who did it (a person, an API "
        "client or a job)."
    )
    # Who did it is stored on the row itself: the list joins nothing.
    list_select_related = []
    fields = [
        "created_at",
        "actor_display",
        "actor_kind",
        "actor",
        "actor_client_id",
        "action",
        "target_type",
        "target_id",
        "message",
        "data",
    ]
    readonly_fields = fields

    @admin.display(description=_("who"))
    def actor_display(self, obj):
        return obj.actor_display


def reason_or_form(modeladmin, request, queryset, *, title: str, action: str):
    """For an admin action that needs a reason: (reason, None) once the form is posted with
    one, else (None, the page that asks for it)."""
    reason = request.POST.get("reason", "").strip()
    if request.POST.get("confirm") and reason:
        return reason[:200], None
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "objects": queryset,
        "action": action,
        "opts": modeladmin.model._meta,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "missing": bool(request.POST.get("confirm")),
    }
    return None, TemplateResponse(request, "admin/keyship_reason.html", context)


def query_filter(title, parameter: str, choices: dict) -> type[admin.SimpleListFilter]:
    """A list filter whose each choice is a Q: {"pending": (_("Not sent yet"), Q(...))}.
    The dashboard links to its choices, so that a number and its list always agree."""

    class QueryFilter(admin.SimpleListFilter):
        def lookups(self, request, model_admin):
            return [(value, label) for value, (label, _query) in choices.items()]

        def queryset(self, request, queryset):
            if self.value() in choices:
                return queryset.filter(choices[self.value()][1])
            return queryset

    QueryFilter.title, QueryFilter.parameter_name = title, parameter
    return QueryFilter
