"""The admin's pages for bulk actions (apps.core.bulk): choose an action, give its rows (a
CSV file, or a changelist's selection) and its fields, read the preview, confirm, read each
row's outcome. The admin site wires the pages (admin:bulk, admin:bulk_confirm); changelists
offer their selection through BulkActionAdminMixin."""

import hashlib
import os

from django import forms
from django.contrib import admin, messages
from django.core import signing
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.template.response import TemplateResponse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.core.bulk import (
    DONE,
    MAX_FILE_BYTES,
    MAX_ROWS,
    TOKEN_MAX_AGE,
    WILL,
    BulkAction,
    bulk_action,
    bulk_actions_for,
    bulk_file_read,
    bulk_perform,
    bulk_preview,
    bulk_selection_targets,
    bulk_token,
    bulk_token_read,
    identifier_plain,
    row_kind,
    selection_token,
    selection_token_read,
)
from apps.core.contracts import Rejected

TEMPLATE = "admin/bulk_action.html"


def bulk_form(action: BulkAction, *, with_file: bool, data=None, files=None) -> forms.Form:
    """The action's own fields, and the file when the rows are not a selection."""
    fields = dict(action.fields())
    if with_file:
        fields["file"] = forms.FileField(
            label=_("CSV file"),
            allow_empty_file=True,  # said with its line, as every other problem of a file
            help_text=_(
                "One column, its header “%(column)s” on the first line, then one a line; at "
                "most %(rows)s rows and %(size)d KB."
            )
            % {
                "column": row_kind(action.kind).column,
                "rows": f"{MAX_ROWS:,}",
                "size": MAX_FILE_BYTES // 1024,
            },
        )
    return type("BulkForm", (forms.Form,), fields)(data=data, files=files)


def _context(site, request, **values) -> dict:
    return {**site.each_context(request), "title": _("Bulk actions"), **values}


def _choices(user, kind=None) -> list[tuple]:
    """(kind, its actions) for the menu, each kind once."""
    grouped: dict[str, list[BulkAction]] = {}
    for action in bulk_actions_for(user=user, kind=kind):
        grouped.setdefault(action.kind, []).append(action)
    return [(row_kind(name), actions) for name, actions in grouped.items()]


def bulk_view(site, request):
    """Choose an action; then its form; then (posted) the preview, a dry run that writes
    nothing, with the signed confirmation of the rows that will be done."""
    user = request.user
    if not bulk_actions_for(user=user):
        raise PermissionDenied
    selection, kind_of_selection, ids = request.POST.get("selection", ""), None, None
    if selection:
        try:
            kind_of_selection, ids = selection_token_read(selection, user=user)
        except signing.BadSignature:
            raise PermissionDenied from None
    name = request.POST.get("action") or request.GET.get("action") or ""
    context = _context(
        site,
        request,
        selection=selection,
        count=len(ids) if ids is not None else None,
        choices=_choices(user, kind_of_selection.name if kind_of_selection else None),
        max_rows=f"{MAX_ROWS:,}",
    )
    if not name:
        return TemplateResponse(request, TEMPLATE, context)
    action = bulk_action(name=name, user=user)
    if action is None or (kind_of_selection and action.kind != kind_of_selection.name):
        raise PermissionDenied  # a forged or stale choice: never run what the menu hides
    kind = row_kind(action.kind)
    posted = request.method == "POST" and request.POST.get("stage") == "preview"
    form = bulk_form(
        action,
        with_file=not selection,
        data=request.POST if posted else None,
        files=request.FILES if posted else None,
    )
    context.update(action=action, kind=kind, form=form)
    if not (posted and form.is_valid()):
        return TemplateResponse(request, TEMPLATE, context)
    params = {field: form.cleaned_data[field] for field in action.fields()}
    try:
        if selection:
            source = _("%(count)d selected") % {"count": len(ids)}
            targets = bulk_selection_targets(kind=kind, ids=ids)
        else:
            upload = form.cleaned_data["file"]
            source = identifier_plain(os.path.basename(upload.name or "file"))
            targets = bulk_file_read(upload.read(MAX_FILE_BYTES + 1), name=source, kind=kind)
    except Rejected as rejected:
        context["errors"] = rejected.errors
        return TemplateResponse(request, TEMPLATE, context)
    outcomes = bulk_preview(action=action, targets=targets, params=params, actor=user)
    context.update(
        source=source,
        outcomes=outcomes,
        will=sum(outcome.status == WILL for outcome in outcomes),
        token=bulk_token(action=action, outcomes=outcomes, params=params, user=user, source=source),
    )
    return TemplateResponse(request, TEMPLATE, context)


def bulk_confirm_view(site, request):
    """Do what the preview said, row by row, each in its own transaction (so the view runs
    outside the request's transaction), and show each row's outcome. The confirmation is
    signed, this person's, recent and used once; the permission is checked again."""
    try:
        data = bulk_token_read(request.POST.get("token", ""), user=request.user)
    except signing.BadSignature:
        context = _context(
            site, request, errors=[_("This preview is too old or not yours: preview again.")]
        )
        return TemplateResponse(request, TEMPLATE, context, status=400)
    action = bulk_action(name=data["a"], user=request.user)
    if action is None:
        raise PermissionDenied
    digest = hashlib.sha256(request.POST["token"].encode()).hexdigest()
    # A second click, a reload or a replay of the same confirmation does nothing twice.
    if not cache.add(f"keyship:bulk:{digest}", True, TOKEN_MAX_AGE):
        context = _context(
            site, request, errors=[_("This preview was confirmed already: preview again.")]
        )
        return TemplateResponse(request, TEMPLATE, context, status=409)
    outcomes = bulk_perform(action=action, rows=data["r"], params=data["p"], actor=request.user)
    context = _context(
        site,
        request,
        action=action,
        kind=row_kind(action.kind),
        source=data["s"],
        results=outcomes,
        done=sum(outcome.status == DONE for outcome in outcomes),
    )
    return TemplateResponse(request, TEMPLATE, context)


class BulkActionAdminMixin:
    """A changelist whose selection goes to the bulk actions of its kind of rows: add "bulk"
    to `actions` and name the kind in `bulk_kind`."""

    bulk_kind = ""

    def has_bulk_permission(self, request) -> bool:
        return bool(bulk_actions_for(user=request.user, kind=self.bulk_kind))

    @admin.action(
        description=gettext_lazy("Bulk action, with a preview first…"), permissions=["bulk"]
    )
    def bulk(self, request, queryset):
        ids = list(queryset.order_by("pk").values_list("pk", flat=True)[: MAX_ROWS + 1])
        if len(ids) > MAX_ROWS:
            self.message_user(
                request,
                _("At most %(count)s rows at a time: narrow the list down.")
                % {"count": f"{MAX_ROWS:,}"},
                messages.ERROR,
            )
            return None
        kind = row_kind(self.bulk_kind)
        context = _context(
            self.admin_site,
            request,
            selection=selection_token(kind=kind, ids=ids, user=request.user),
            count=len(ids),
            choices=_choices(request.user, kind.name),
            max_rows=f"{MAX_ROWS:,}",
        )
        return TemplateResponse(request, TEMPLATE, context)
