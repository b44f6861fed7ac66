"""An email that did not reach its address, and the form that sends it to another one.

Customer Care sees a bounce (or a rejection, or a mail server's final refusal) on the
delivery list, the delivery's page and the order's page, each with a link to this form:
a new address and a reason, and the message goes again, as a resend of the first
(delivery_resend), to the new address.
"""

from django import forms
from django.contrib import messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from apps.outbox.models import Delivery, DeliveryStatus
from apps.outbox.services import delivery_resend
from apps.outbox.tracking import PROBLEMS, may_send_elsewhere

# Whoever sends a message to an address of their choosing can read what it holds: a
# Fulfillment Email's activation codes, license keys. So, as for an order's addresses, only
# staff who may see activation codes (Customer Care) do, and only if they may change
# deliveries.
SEND_ELSEWHERE_PERMISSIONS = ("outbox.change_delivery", "entitlements.view_activation_code")


def may_user_send_elsewhere(user) -> bool:
    return user.has_perms(SEND_ELSEWHERE_PERMISSIONS)


def _address(value: str) -> str:
    return value.strip().lower()


def send_elsewhere_url(delivery: Delivery) -> str:
    return reverse("admin:outbox_delivery_send_elsewhere", args=[delivery.pk])


def tracking_html(delivery: Delivery):
    """What the ESP reported; a problem stands out, and an email that did not arrive links
    to the form that sends it to another address."""
    if delivery.tracking_status in PROBLEMS:
        shown = format_html("<strong>⚠ {}</strong>", delivery.get_tracking_status_display())
    else:
        shown = delivery.get_tracking_status_display() if delivery.tracking_status else ""
    if may_send_elsewhere(delivery):
        if not shown and delivery.status == DeliveryStatus.FAILED:
            shown = format_html("<strong>⚠ {}</strong>", delivery.get_status_display())
        return format_html(
            '{} <a href="{}">{}</a>',
            shown,
            send_elsewhere_url(delivery),
            gettext("Send to another address"),
        )
    return shown


class SendElsewhereForm(forms.Form):
    recipient = forms.EmailField(
        label=_("New address"),
        max_length=254,
        help_text=_("The message goes again, as it was, to this address only."),
    )
    reason = forms.CharField(
        label=_("Reason (kept in the audit log)"),
        max_length=200,
        help_text=_("For example: the customer gave a new address by phone."),
    )

    def __init__(self, *args, delivery: Delivery, **kwargs):
        super().__init__(*args, **kwargs)
        self.delivery = delivery

    def clean_recipient(self):
        recipient = self.cleaned_data["recipient"].strip()
        if _address(recipient) == _address(self.delivery.recipient):
            raise ValidationError(
                _("This is the address that did not receive the message: enter another one.")
            )
        original = self.delivery.resend_of_id or self.delivery.pk
        already = (
            Delivery.objects.filter(resend_of_id=original, recipient__iexact=recipient)
            .order_by("pk")
            .first()
        )
        if already is not None:
            raise ValidationError(
                _("The message was already sent again to this address (delivery %(id)s).")
                % {"id": already.pk}
            )
        return recipient


class SendElsewhereAdminMixin:
    """For DeliveryAdmin: the "Send to another address" page (see SEND_ELSEWHERE_PERMISSIONS
    for who may use it), and its button on a delivery's page."""

    change_form_template = "admin/outbox/delivery/change_form.html"

    def get_urls(self):
        return [
            path(
                "<path:object_id>/send-elsewhere/",
                self.admin_site.admin_view(self.send_elsewhere_view),
                name="outbox_delivery_send_elsewhere",
            ),
            *super().get_urls(),
        ]

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = dict(extra_context or {})
        delivery = self.get_object(request, unquote(object_id))
        if (
            delivery is not None
            and may_send_elsewhere(delivery)
            and may_user_send_elsewhere(request.user)
        ):
            extra_context["send_elsewhere_url"] = send_elsewhere_url(delivery)
        return super().change_view(request, object_id, form_url, extra_context)

    def send_elsewhere_view(self, request, object_id):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        delivery = self.get_object(request, unquote(object_id))
        if delivery is None:
            raise Http404
        change_url = reverse("admin:outbox_delivery_change", args=[delivery.pk])
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": gettext("Send to another address"),
            "delivery": delivery,
            "change_url": change_url,
        }
        if not may_user_send_elsewhere(request.user):
            context["refusal"] = gettext(
                "Sending a message to another address is for staff who may see activation "
                "codes and change deliveries (Customer Care)."
            )
            return TemplateResponse(
                request, "admin/outbox/delivery/send_elsewhere.html", context, status=403
            )
        if not may_send_elsewhere(delivery):
            self.message_user(
                request,
                gettext(
                    "Only an email that bounced, was rejected or failed for good can be sent "
                    "to another address; this one was not."
                ),
                messages.ERROR,
            )
            return HttpResponseRedirect(change_url)
        form = SendElsewhereForm(
            request.POST if request.method == "POST" else None, delivery=delivery
        )
        if form.is_valid():
            resend = delivery_resend(
                delivery=delivery,
                actor=request.user,
                reason=form.cleaned_data["reason"],
                recipient=form.cleaned_data["recipient"],
            )
            self.message_user(
                request,
                gettext("%(kind)s queued for %(recipient)s, instead of %(previous)s.")
                % {
                    "kind": resend.get_kind_display(),
                    "recipient": resend.recipient,
                    "previous": delivery.recipient,
                },
                messages.SUCCESS,
            )
            return HttpResponseRedirect(reverse("admin:outbox_delivery_change", args=[resend.pk]))
        context["form"] = form
        return TemplateResponse(request, "admin/outbox/delivery/send_elsewhere.html", context)
