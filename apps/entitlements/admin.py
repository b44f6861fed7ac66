from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Q
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.catalog.models import DeliveryMethod
from apps.core.admin import LargeTableAdmin, ReadOnlyAdminMixin, query_filter, reason_or_form
from apps.core.bulk_admin import BulkActionAdminMixin
from apps.core.contracts import Rejected
from apps.core.dates import business_today
from apps.entitlements.activations import activations_revoke
from apps.entitlements.admin_rehosts import ActivationRehostMixin, RehostRequestAdmin  # noqa: F401
from apps.entitlements.admin_transfers import TransferAdminMixin
from apps.entitlements.license_keys import LicenseKeyInvalid, license_key_read
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import (
    Activation,
    Certificate,
    CertificateStatus,
    Entitlement,
    EntitlementAccount,
    EntitlementAccountHistory,
    EntitlementStatus,
    SupersededLicenseKey,
    Term,
)
from apps.entitlements.selectors import entering_grace, entitlement_ids_for_term
from apps.entitlements.services import (
    certificate_reissue,
    certificates_retry,
    entitlement_paper_delivery_record,
)

PAPER_FIELDS = ["paper_certificate_number", "tracking_number"]


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return EntitlementStatus.choices

    def queryset(self, request, queryset):
        if self.value() in EntitlementStatus.values:
            return queryset.filter(status=self.value())
        return queryset


class GraceSoonFilter(admin.SimpleListFilter):
    """Subscriptions whose term ends within the next seven days and that then have a grace
    period: they enter grace this week."""

    title = _("grace")
    parameter_name = "grace_soon"

    def lookups(self, request, model_admin):
        return [("week", _("Entering grace within 7 days"))]

    def queryset(self, request, queryset):
        if self.value() == "week":
            return queryset.filter(entering_grace(today=business_today()))
        return queryset


CertificateQueueFilter = query_filter(
    _("queue"),
    "queue",
    {
        "pending": (
            _("Not rendered yet"),
            Q(status__in=[CertificateStatus.QUEUED, CertificateStatus.RENDERING]),
        ),
        "retry": (
            _("Waiting to retry"),
            Q(status=CertificateStatus.QUEUED, attempts__gt=0),
        ),
    },
)


class EntitlementAccountInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = EntitlementAccount
    fields = ["account", "role", "since"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("accounts that see this entitlement")


class EntitlementAccountHistoryInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The accounts that saw it until a transfer: who, in which role, when and why."""

    model = EntitlementAccountHistory
    fields = ["account", "role", "since", "until", "reason"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("accounts that saw it before a transfer")


class ActivationInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Activation
    fields = [
        "serial_number",
        "activated_by",
        "created_at",
        "revoked_at",
        "revoke_reason",
        "rehosted_from",
    ]
    readonly_fields = fields
    extra = 0
    show_change_link = True


def may_download_certificates(user) -> bool:
    """A certificate prints the activation (or authorization) code, so only staff who may
    see codes download one: Operations watches the rendering queue without the files."""
    return user.has_perm("entitlements.view_entitlement") and user.has_perm(
        "entitlements.view_activation_code"
    )


def _without_pdf(request, fields) -> list:
    fields = list(fields)
    if "pdf" in fields and not may_download_certificates(request.user):
        fields.remove("pdf")
    return fields


def certificate_link(certificate: Certificate) -> str:
    if certificate.status != CertificateStatus.READY:
        return certificate.get_status_display()
    url = reverse("admin:entitlements_certificate_download", args=[certificate.pk])
    return format_html('<a href="{}">{}</a>', url, _("download PDF"))


class TermInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The timeline of a subscription: its initial term and each renewal."""

    model = Term
    fields = ["sequence", "kind", "starts_on", "ends_on", "grace_ends_on", "order_line"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = _("terms (timeline)")


class CertificateInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = Certificate
    fields = [
        "version",
        "status",
        "reason",
        "created_at",
        "rendered_at",
        "attempts",
        "last_error",
        "pdf",
    ]
    readonly_fields = fields
    extra = 0
    ordering = ["-version"]

    @admin.display(description=_("PDF"))
    def pdf(self, obj):
        return certificate_link(obj)

    def get_fields(self, request, obj=None):
        return _without_pdf(request, super().get_fields(request, obj))


@admin.register(Entitlement)
class EntitlementAdmin(
    BulkActionAdminMixin, TransferAdminMixin, ReadOnlyAdminMixin, LargeTableAdmin
):
    list_display = [
        "ssrn",
        "product",
        "quantity",
        "status_display",
        "starts_on",
        "term_ends_on",
        "order_line",
    ]
    list_filter = [
        StatusFilter,
        GraceSoonFilter,
        "product__delivery_method",
        "product__license_type",
        "starts_on",
    ]
    search_lookups = ["ssrn"]  # the box; search_ids reads every key but the activation code
    search_help_text = _(
        "An SSRN, an order number, a device serial number or an Account ID. Find, on the "
        "front page, also searches by activation code."
    )
    list_select_related = ["product", "order_line__order"]
    inlines = [
        EntitlementAccountInline,
        EntitlementAccountHistoryInline,
        TermInline,
        ActivationInline,
        CertificateInline,
    ]
    actions = [
        "reissue_certificates",
        "suspend",
        "reinstate",
        "revoke",
        "transfer",
        "split",
        "bulk",
    ]
    bulk_kind = "entitlement"
    fields = [
        "ssrn",
        "activation_code",
        "product",
        "order_line",
        "split_from",
        "quantity",
        "status_display",
        "starts_on",
        "term_ends_on",
        "grace_ends_on",
        "suspended_at",
        "suspend_reason",
        "revoked_at",
        "revoke_reason",
        "transferred_at",
        "who_sees_it",
        "created_at",
        "updated_at",
    ]
    readonly_fields = fields

    @admin.display(description=_("who sees it"))
    def who_sees_it(self, obj):
        url = reverse("admin:visibility")
        return format_html(
            '<a href="{}?ssrn={}">{}</a>',
            url,
            obj.ssrn,
            _("Why does a contact see this entitlement, or not?"),
        )

    def get_queryset(self, request):
        return super().get_queryset(request).with_status(business_today())

    def search_ids(self, term):
        return entitlement_ids_for_term(term=term, limit=self.search_limit)

    def has_reissue_permission(self, request):
        return request.user.has_perm("entitlements.reissue_certificate")

    @admin.action(description=_("Reissue the certificate (a new version)"), permissions=["reissue"])
    def reissue_certificates(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Reissue certificates"), action="reissue_certificates"
        )
        if page:
            return page
        for entitlement in queryset.select_related("order_line__order"):
            certificate_reissue(entitlement=entitlement, actor=request.user, reason=reason)
        self.message_user(
            request, _("Reissued: %(count)d.") % {"count": queryset.count()}, messages.SUCCESS
        )

    def has_suspend_permission(self, request):
        return request.user.has_perm("entitlements.suspend_entitlement")

    def has_revoke_permission(self, request):
        return request.user.has_perm("entitlements.revoke_entitlement")

    def _lifecycle_action(self, request, queryset, *, service, title, action, done):
        reason, page = reason_or_form(self, request, queryset, title=title, action=action)
        if page:
            return page
        changed = 0
        # One service call (one transaction) per entitlement: a refused one changes nothing
        # and does not stop the others.
        for entitlement_id in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                service(entitlement_id=entitlement_id, reason=reason, actor=request.user)
            except Rejected as rejected:
                for error in rejected.errors:
                    self.message_user(request, error, messages.ERROR)
            else:
                changed += 1
        if changed:
            self.message_user(request, done % {"count": changed}, messages.SUCCESS)
        return None

    @admin.action(
        description=_("Suspend (no new activation until reinstated)"), permissions=["suspend"]
    )
    def suspend(self, request, queryset):
        return self._lifecycle_action(
            request,
            queryset,
            service=entitlement_suspend,
            title=_("Suspend entitlements"),
            action="suspend",
            done=_("Suspended: %(count)d."),
        )

    @admin.action(description=_("Reinstate (lift the suspension)"), permissions=["suspend"])
    def reinstate(self, request, queryset):
        return self._lifecycle_action(
            request,
            queryset,
            service=entitlement_reinstate,
            title=_("Reinstate entitlements"),
            action="reinstate",
            done=_("Reinstated: %(count)d."),
        )

    @admin.action(description=_("Revoke (final: ends its activations)"), permissions=["revoke"])
    def revoke(self, request, queryset):
        return self._lifecycle_action(
            request,
            queryset,
            service=entitlement_revoke,
            title=_("Revoke entitlements"),
            action="revoke",
            done=_("Revoked: %(count)d."),
        )

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "accounts__account_id" or super().lookup_allowed(lookup, value, request)

    @admin.display(description=_("status"), ordering="status")
    def status_display(self, obj):
        label = EntitlementStatus(obj.status).label
        days = obj.days_left(business_today())
        if days is None:
            return label
        return ngettext("%(status)s, %(days)d day left", "%(status)s, %(days)d days left", days) % {
            "status": label,
            "days": days,
        }

    @admin.display(description=_("activation code"))
    def activation_code(self, obj):
        return obj.activation_code

    def get_fields(self, request, obj=None):
        fields = list(self.fields)
        if not request.user.has_perm("entitlements.view_activation_code"):
            fields.remove("activation_code")
        if obj is not None and obj.product.delivery_method == DeliveryMethod.PAPER:
            fields[fields.index("revoked_at") : fields.index("revoked_at")] = PAPER_FIELDS
        return fields

    def get_readonly_fields(self, request, obj=None):
        fields = self.get_fields(request, obj)
        if self._records_paper(request, obj):
            return [field for field in fields if field not in PAPER_FIELDS]
        return fields

    def _records_paper(self, request, obj) -> bool:
        return (
            obj is not None
            and obj.product.delivery_method == DeliveryMethod.PAPER
            and request.user.has_perm("entitlements.record_paper_delivery")
        )

    def has_change_permission(self, request, obj=None):
        # Services write entitlements; Operations only records what shipped on paper.
        return self._records_paper(request, obj)

    def save_model(self, request, obj, form, change):
        entitlement_paper_delivery_record(
            entitlement=obj,
            certificate_number=form.cleaned_data["paper_certificate_number"],
            tracking_number=form.cleaned_data["tracking_number"],
            actor=request.user,
        )


def may_see_license_keys(user) -> bool:
    """A signed license key buys fresh keys for its device at the refresh endpoint: staff
    see one whole only where they may see activation codes; the others see its fingerprint
    (the revocation list's name for it)."""
    return user.has_perm("entitlements.view_activation_code")


def _key_fingerprint(text: str) -> str:
    try:
        return license_key_read(text).fingerprint
    except LicenseKeyInvalid:  # a key imported in another shape
        return "-"


class SupersededLicenseKeyInline(ReadOnlyAdminMixin, admin.TabularInline):
    """The keys this device had before a renewal re-issued them or the device refreshed its
    key (no renewal): a device may still hold one."""

    model = SupersededLicenseKey
    fields = ["superseded_at", "renewal", "license_key", "fingerprint"]
    readonly_fields = fields
    extra = 0
    ordering = ["-superseded_at", "-id"]

    @admin.display(description=_("key fingerprint"))
    def fingerprint(self, obj):
        return _key_fingerprint(obj.license_key)

    def get_fields(self, request, obj=None):
        if may_see_license_keys(request.user):
            return ["superseded_at", "renewal", "license_key"]
        return ["superseded_at", "renewal", "fingerprint"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)


@admin.register(Activation)
class ActivationAdmin(
    BulkActionAdminMixin, ActivationRehostMixin, ReadOnlyAdminMixin, LargeTableAdmin
):
    list_display = [
        "entitlement",
        "serial_number",
        "created_at",
        "last_refreshed_at",
        "revoked_at",
        "rehosted_from",
    ]
    list_filter = ["created_at"]
    search_lookups = ["serial_number", "entitlement__ssrn"]
    search_help_text = _("A device serial number or an SSRN.")
    list_select_related = ["entitlement", "rehosted_from"]
    fields = [
        "entitlement",
        "serial_number",
        "license_key",
        "key_fingerprint",
        "activated_by",
        "created_at",
        "last_refreshed_at",
        "revoked_at",
        "revoke_reason",
        "rehosted_from",
        "rehosted_to_link",
        "rehost_link",
    ]
    readonly_fields = fields
    inlines = [SupersededLicenseKeyInline]
    actions = ["revoke", "rehost", "bulk"]
    bulk_kind = "activation"

    @admin.display(description=_("rehosted to"))
    def rehosted_to_link(self, obj):
        moved = obj.rehosted_to.first()
        if moved is None:
            return "-"
        url = reverse("admin:entitlements_activation_change", args=[moved.pk])
        return format_html('<a href="{}">{}</a>', url, moved.serial_number)

    @admin.display(description=_("replacement (RMA)"))
    def rehost_link(self, obj):
        url = reverse("admin:entitlements_activation_rehost", args=[obj.pk])
        return format_html(
            '<a class="button" href="{}">{}</a>', url, _("Rehost to a replacement device")
        )

    @admin.display(description=_("key fingerprint"))
    def key_fingerprint(self, obj):
        return _key_fingerprint(obj.license_key)

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        if obj is None or obj.revoked_at is not None or not self.has_rehost_permission(request):
            fields.remove("rehost_link")
        fields.remove("key_fingerprint" if may_see_license_keys(request.user) else "license_key")
        return fields

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def has_revoke_permission(self, request):
        return request.user.has_perm("entitlements.revoke_activation")

    @admin.action(description=_("Revoke, freeing the seat"), permissions=["revoke"])
    def revoke(self, request, queryset):
        reason, page = reason_or_form(
            self, request, queryset, title=_("Revoke activations"), action="revoke"
        )
        if page:
            return page
        revoked = activations_revoke(
            activation_ids=list(queryset.values_list("pk", flat=True)),
            actor=request.user,
            reason=reason,
        )
        self.message_user(request, _("Revoked: %(count)d.") % {"count": revoked}, messages.SUCCESS)


@admin.register(Certificate)
class CertificateAdmin(ReadOnlyAdminMixin, LargeTableAdmin):
    """The rendering queue: what waits, what failed and why; retry; download."""

    list_display = [
        "__str__",
        "status",
        "attempts",
        "next_attempt_at",
        "rendered_at",
        "last_error",
        "pdf",
    ]
    list_filter = [CertificateQueueFilter, "status"]
    search_lookups = ["entitlement__ssrn"]
    search_help_text = _("An SSRN.")
    list_select_related = ["entitlement"]
    fields = [
        "entitlement",
        "version",
        "status",
        "language",
        "reason",
        "attempts",
        "next_attempt_at",
        "lease_expires_at",
        "last_error",
        "created_at",
        "rendered_at",
        "sha256",
        "pdf",
    ]
    readonly_fields = fields
    actions = ["retry_now"]

    @admin.display(description=_("PDF"))
    def pdf(self, obj):
        return certificate_link(obj)

    def get_list_display(self, request):
        return _without_pdf(request, super().get_list_display(request))

    def get_fields(self, request, obj=None):
        return _without_pdf(request, super().get_fields(request, obj))

    def has_change_permission(self, request, obj=None):
        return obj is None and request.user.has_perm("entitlements.change_certificate")

    @admin.action(description=_("Render failed certificates again"), permissions=["change"])
    def retry_now(self, request, queryset):
        retried = certificates_retry(
            certificate_ids=list(queryset.values_list("pk", flat=True)), actor=request.user
        )
        self.message_user(request, _("Queued again: %(count)d.") % {"count": len(retried)})

    def get_urls(self):
        download = self.admin_site.admin_view(self.download_view)
        return [
            path("<int:pk>/download/", download, name="entitlements_certificate_download"),
            *super().get_urls(),
        ]

    def download_view(self, request, pk):
        """The PDF, to staff who may see activation codes (it prints one): never from a
        public URL. Others get 403, and no page links here for them."""
        if not may_download_certificates(request.user):
            raise PermissionDenied
        certificate = get_object_or_404(Certificate.objects.select_related("entitlement"), pk=pk)
        if certificate.status != CertificateStatus.READY:
            raise Http404("This certificate is not rendered yet.")
        return FileResponse(
            certificate.file.open("rb"), as_attachment=True, filename=certificate.filename
        )
