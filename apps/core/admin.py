from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property
from django.utils.translation import gettext_lazy as _

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
    """A changelist for a table that grows with the business: no full counts, lean pages."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    list_per_page = 50


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
    list_filter = ["action", "target_type"]
    search_fields = ["=target_id", "action", "=actor__email"]
    list_select_related = ["actor"]
    fields = ["created_at", "actor", "action", "target_type", "target_id", "message", "data"]
    readonly_fields = fields

    @admin.display(description=_("who"))
    def actor_display(self, obj):
        return obj.actor or _("a scheduled job")
