"""The ERP's REST API, under /api/v1/. Every view needs a client token with the scope it
names; every call is audited, errors included."""

import hashlib
import json
import logging
import re

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django_ratelimit import ALL
from django_ratelimit.core import get_usage
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.contracts import AccountsFile
from apps.accounts.selectors import associated_contact_emails
from apps.accounts.services import accounts_import
from apps.api.authentication import BearerTokenAuthentication
from apps.api.models import IdempotentRequest, Scope
from apps.api.permissions import HasScope
from apps.api.serializers import (
    EntitlementActionIn,
    EntitlementChangePageOut,
    EntitlementOut,
    EntitlementPageOut,
    EntitlementRehostIn,
    EntitlementSplitIn,
    EntitlementTransferIn,
    EntitlementWithCodeOut,
    ErrorOut,
    ImportOut,
    LineActionIn,
    LineChangeIn,
    OrderOut,
)
from apps.api.services import api_call_refused_record
from apps.catalog.contracts import CatalogFile
from apps.catalog.services import catalog_import
from apps.core import metrics
from apps.core.contracts import Rejected, validate
from apps.core.dates import business_today
from apps.core.http import client_address
from apps.core.services import audit_event_record
from apps.entitlements.changes import entitlement_changes_after, entitlement_changes_end
from apps.entitlements.lifecycle import (
    entitlement_reinstate,
    entitlement_revoke,
    entitlement_suspend,
)
from apps.entitlements.models import EntitlementStatus
from apps.entitlements.rehosts import activation_rehost
from apps.entitlements.selectors import api_entitlements, renewal_problem
from apps.entitlements.transfers import entitlement_split, entitlement_transfer
from apps.orders.contracts import OrderIn
from apps.orders.models import OrderLine, SalesOrder
from apps.orders.services import (
    Conflict,
    order_line_reschedule,
    order_lines_transition,
    sales_order_receive,
)

logger = logging.getLogger(__name__)

ERRORS = {
    400: OpenApiResponse(ErrorOut, description="Bad input: every problem with its path."),
    401: OpenApiResponse(ErrorOut, description="No token, or an unknown or revoked one."),
    403: OpenApiResponse(ErrorOut, description="The client lacks the scope."),
    413: OpenApiResponse(ErrorOut, description="The body is larger than the limit."),
}
NOT_FOUND = {404: OpenApiResponse(ErrorOut, description="No such record.")}
CONFLICT = {409: OpenApiResponse(ErrorOut, description="It would change what has shipped.")}


@method_decorator(transaction.non_atomic_requests, name="dispatch")
class ApiView(APIView):
    """Authentication, scopes, the body limit and the audit of every call.

    Outside the request transaction: each service holds its own, and the audit record of a
    refused call must survive the refusal.
    """

    authentication_classes = [BearerTokenAuthentication]
    permission_classes = [HasScope]
    required_scopes: dict[str, str] = {}

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        length = int(request.META.get("CONTENT_LENGTH") or 0)
        if length > settings.API_MAX_BODY_BYTES:
            raise BodyTooLarge()

    def finalize_response(self, request, response, *args, **kwargs):
        client = getattr(request, "auth", None)
        if client is not None:
            audit_event_record(
                actor=client,
                action="api.call",
                target=client,
                message=f"{request.method} {request.path} -> {response.status_code}",
            )
        elif response.status_code == status.HTTP_401_UNAUTHORIZED:
            _refused_call_audit(request, response)
        return super().finalize_response(request, response, *args, **kwargs)


def _refused_call_audit(request, response) -> None:
    """Audit a call refused for its token, up to API_REFUSED_AUDIT_RATE per client address:
    anyone can send refused calls, and each would otherwise be a row in the audit table.
    The first call past the limit logs a warning, so the flood itself is on record."""
    address = client_address(request)
    usage = get_usage(
        request._request,
        group="api.refused-audit",
        key="ip",  # the client's address (RATELIMIT_IP_META_KEY)
        rate=lambda group, request: settings.API_REFUSED_AUDIT_RATE,
        method=ALL,
        increment=True,
    )
    if usage is not None and usage["should_limit"]:
        metrics.rate_limited.labels(limit=metrics.LIMIT_API_REFUSED_AUDIT).inc()
        if usage["count"] == usage["limit"] + 1:
            logger.warning(
                "refused API calls from %s are not audited for the next %d seconds",
                address,
                usage["time_left"],
            )
        return
    refused, revoked_client = getattr(request, "token_refusal", None) or ("no token", None)
    api_call_refused_record(
        method=request.method,
        path=request.path,
        status=response.status_code,
        client_address=address,
        refused=refused,
        client=revoked_client,
    )


class BodyTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The body is larger than the limit."


def _order_out(order_number: str) -> dict:
    order = get_object_or_404(
        SalesOrder.objects.prefetch_related(
            "order_accounts__account", "emails", "lines__product", "lines__entitlements"
        ),
        order_number=order_number,
    )
    return OrderOut(order).data


def _body_digest(data) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


class OrdersView(ApiView):
    required_scopes = {"POST": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="orders_send",
        summary="Send a sales order (idempotent on its order number)",
        request=OrderIn,
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                str,
                OpenApiParameter.HEADER,
                description="Optional: the same key with the same body answers the same again.",
            )
        ],
        responses={
            201: OrderOut,
            200: OpenApiResponse(OrderOut, description="Known already; the stored order."),
            **ERRORS,
            **CONFLICT,
            422: OpenApiResponse(ErrorOut, description="Idempotency-Key reused for another body."),
        },
    )
    def post(self, request):
        key = request.headers.get("Idempotency-Key", "").strip()[:200]
        digest = _body_digest(request.data)
        if key:
            earlier = IdempotentRequest.objects.filter(client=request.auth, key=key).first()
            if earlier:
                if earlier.body_digest != digest or earlier.path != request.path:
                    return Response(
                        {"errors": [f"Idempotency-Key: {key} was used for another request"]},
                        status=status.HTTP_422_UNPROCESSABLE_ENTITY,
                    )
                return Response(earlier.response, status=earlier.status_code)
        data = validate(OrderIn, request.data)
        order, outcome = sales_order_receive(
            data=data, actor=request.auth, renewal_check=renewal_problem
        )
        code = status.HTTP_201_CREATED if outcome == "created" else status.HTTP_200_OK
        body = _order_out(order.order_number)
        if key:
            try:
                with transaction.atomic():
                    IdempotentRequest.objects.create(
                        client=request.auth,
                        key=key,
                        method=request.method,
                        path=request.path,
                        body_digest=digest,
                        status_code=code,
                        response=json.loads(json.dumps(body, default=str)),
                    )
            except IntegrityError:
                pass  # the same key at the same moment: the order is the same either way
        return Response(body, status=code)


class OrderDetailView(ApiView):
    required_scopes = {"GET": Scope.ORDERS_READ}

    @extend_schema(
        operation_id="orders_read",
        summary="A sales order with its lines, their states and entitlements",
        responses={200: OrderOut, **ERRORS, **NOT_FOUND},
    )
    def get(self, request, order_number: str):
        return Response(_order_out(order_number))


def _line(order_number: str, line_number: int) -> OrderLine:
    return get_object_or_404(OrderLine, order__order_number=order_number, line_number=line_number)


class OrderLineView(ApiView):
    required_scopes = {"PATCH": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="order_lines_reschedule",
        summary="A new requested ship date for a line that has not shipped",
        request=LineChangeIn,
        responses={200: OrderOut, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def patch(self, request, order_number: str, line_number: int):
        line = _line(order_number, line_number)
        data = validate(LineChangeIn, request.data)
        order_line_reschedule(
            line=line, requested_ship_date=data["requested_ship_date"], actor=request.auth
        )
        return Response(_order_out(order_number))


class OrderLineActionView(ApiView):
    required_scopes = {"POST": Scope.ORDERS_WRITE}

    @extend_schema(
        operation_id="order_lines_act",
        summary="Hold, release or cancel a line that has not shipped",
        request=LineActionIn,
        responses={200: OrderOut, **ERRORS, **NOT_FOUND, **CONFLICT},
    )
    def post(self, request, order_number: str, line_number: int, action: str):
        line = _line(order_number, line_number)
        data = validate(LineActionIn, request.data)
        changed = order_lines_transition(
            line_ids=[line.pk], action=action, actor=request.auth, reason=data["reason"]
        )
        if not changed:
            line.refresh_from_db()
            done = {"hold": "held", "release": "released", "cancel": "cancelled"}[action]
            raise Conflict(
                [
                    f"lines: line {line_number} of order {order_number} is {line.status} "
                    f"and cannot be {done}"
                ]
            )
        return Response(_order_out(order_number))


class EntitlementCursor(CursorPagination):
    # Oldest change first, so a client that saves the last cursor picks up where it stopped.
    ordering = ("updated_at", "id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 500


class EntitlementFilter(serializers.Serializer):
    account_id = serializers.CharField(required=False, max_length=20)
    status = serializers.ChoiceField(choices=EntitlementStatus.choices, required=False)
    updated_since = serializers.DateTimeField(required=False)
    cursor = serializers.CharField(required=False)
    page_size = serializers.IntegerField(required=False, min_value=1, max_value=500)


def _entitlement_serializer(request):
    return EntitlementWithCodeOut if request.auth.allows(Scope.ACTIVATION_CODES) else EntitlementOut


class EntitlementsView(ApiView):
    required_scopes = {"GET": Scope.ENTITLEMENTS_READ}

    @extend_schema(
        operation_id="entitlements_list",
        summary="Entitlements, oldest change first, by cursor",
        parameters=[EntitlementFilter],
        responses={200: EntitlementPageOut, **ERRORS},
        description="activation_code is there only for clients with the entitlements:codes scope.",
    )
    def get(self, request):
        filters = validate(EntitlementFilter, request.query_params)
        rows = api_entitlements(
            today=business_today(),
            account_id=filters.get("account_id", ""),
            status=filters.get("status", ""),
            updated_since=filters.get("updated_since"),
        )
        paginator = EntitlementCursor()
        try:
            page = paginator.paginate_queryset(rows, request, view=self)
        except exceptions.NotFound:
            raise Rejected(["cursor: not a cursor from a page of this list"]) from None
        return paginator.get_paginated_response(
            _entitlement_serializer(request)(page, many=True).data
        )


class EntitlementDetailView(ApiView):
    required_scopes = {"GET": Scope.ENTITLEMENTS_READ}

    @extend_schema(
        operation_id="entitlements_read",
        summary="One entitlement by its SSRN",
        responses={200: EntitlementWithCodeOut, **ERRORS, **NOT_FOUND},
    )
    def get(self, request, ssrn: str):
        return Response(_entitlement_serializer(request)(_entitlement_found(ssrn)).data)


ENTITLEMENT_ACTIONS = {
    "suspend": entitlement_suspend,
    "reinstate": entitlement_reinstate,
    "revoke": entitlement_revoke,
}


class EntitlementActionView(ApiView):
    required_scopes = {"POST": Scope.ENTITLEMENTS_MANAGE}

    @extend_schema(
        operation_id="entitlements_action",
        summary="Suspend, reinstate or revoke an entitlement, saying why",
        request=EntitlementActionIn,
        responses={200: EntitlementWithCodeOut, **ERRORS, **NOT_FOUND},
        description=(
            "suspend: no new activation or key until reinstated (not a revoked one); "
            "reinstate: only a suspended one; revoke: final, ends its activations. "
            "A refused action changes nothing and answers 400 saying why. The contacts of "
            "its accounts are told by email, with the reason."
        ),
    )
    def post(self, request, ssrn: str, action: str):
        entitlement = _entitlement_found(ssrn)
        body = validate(EntitlementActionIn, request.data)
        ENTITLEMENT_ACTIONS[action](
            entitlement_id=entitlement.pk, reason=body["reason"], actor=request.auth
        )
        return _entitlement_answer(request, entitlement.pk)


def _entitlement_found(ssrn: str):
    entitlement = api_entitlements(today=business_today()).filter(ssrn=ssrn).first()
    if entitlement is None:
        raise Http404(_("No entitlement has this SSRN."))
    return entitlement


def _entitlement_answer(request, pk: int, status: int = 200) -> Response:
    """The entitlement as GET /api/v1/entitlements/{ssrn}/ shows it, read again after an
    action changed it."""
    entitlement = api_entitlements(today=business_today()).get(pk=pk)
    return Response(_entitlement_serializer(request)(entitlement).data, status=status)


class EntitlementTransferView(ApiView):
    required_scopes = {"POST": Scope.ENTITLEMENTS_MANAGE}

    @extend_schema(
        operation_id="entitlements_transfer",
        summary="Transfer an entitlement to other accounts, saying why",
        request=EntitlementTransferIn,
        responses={200: EntitlementWithCodeOut, **ERRORS, **NOT_FOUND},
        description=(
            "The given accounts replace the entitlement's accounts; the first is the end "
            "customer, each other one keeps its roles other than end customer, else is a "
            "partner. It gets a new activation code, which goes with a new certificate to "
            "the contacts of the new accounts; the previous accounts' contacts stop seeing "
            "it and are told, without the code. Refused (400, nothing changed) when it is "
            "revoked or suspended, an Account ID is unknown, or nothing would change."
        ),
    )
    def post(self, request, ssrn: str):
        entitlement = _entitlement_found(ssrn)
        body = validate(EntitlementTransferIn, request.data)
        entitlement_transfer(
            entitlement_id=entitlement.pk,
            account_ids=body["account_ids"],
            reason=body["reason"],
            actor=request.auth,
        )
        return _entitlement_answer(request, entitlement.pk)


class EntitlementSplitView(ApiView):
    required_scopes = {"POST": Scope.ENTITLEMENTS_MANAGE}

    @extend_schema(
        operation_id="entitlements_split",
        summary="Move seats of an entitlement to a new one, saying why",
        request=EntitlementSplitIn,
        responses={201: EntitlementWithCodeOut, **ERRORS, **NOT_FOUND},
        description=(
            "Makes a new entitlement (its own SSRN and activation code; the same product, "
            "dates and terms) with `quantity` seats, for the given accounts (the first is "
            "its end customer), and answers it. The source keeps its activations and the "
            "rest of its seats. Refused (400, nothing changed) unless quantity is fewer "
            "than the source's seats and no more than its free ones, or when it is revoked, "
            "suspended or not activated on devices."
        ),
    )
    def post(self, request, ssrn: str):
        entitlement = _entitlement_found(ssrn)
        body = validate(EntitlementSplitIn, request.data)
        split = entitlement_split(
            entitlement_id=entitlement.pk,
            quantity=body["quantity"],
            account_ids=body["account_ids"],
            reason=body["reason"],
            actor=request.auth,
        )
        return _entitlement_answer(request, split.pk, status=201)


class EntitlementRehostView(ApiView):
    required_scopes = {"POST": Scope.ENTITLEMENTS_MANAGE}

    @extend_schema(
        operation_id="entitlements_rehost",
        summary="Move a device's activation to its replacement (RMA), saying why",
        request=EntitlementRehostIn,
        responses={200: EntitlementWithCodeOut, **ERRORS, **NOT_FOUND},
        description=(
            "The failed device's activation ends (its keys are revoked: the revocation list "
            "names them) and the replacement is activated with a new key; the seats in use "
            "do not change. The contacts of the entitlement's accounts are told by email, "
            "with the new key. Refused (400, nothing changed) when the serial number has no "
            "live activation on the entitlement, the replacement is activated on it already, "
            "a portal user's request for the device waits for Customer Care, or the "
            "entitlement is suspended, revoked or expired."
        ),
    )
    def post(self, request, ssrn: str):
        entitlement = _entitlement_found(ssrn)
        body = validate(EntitlementRehostIn, request.data)
        serial = body["serial_number"].strip().upper()
        activation = entitlement.activations.filter(
            serial_number=serial, revoked_at__isnull=True
        ).first()
        if activation is None:
            raise Rejected(
                [
                    _("serial_number: %(serial)s has no live activation on %(ssrn)s.")
                    % {"serial": serial[:64], "ssrn": entitlement.ssrn}
                ]
            )
        activation_rehost(
            activation_id=activation.pk,
            new_serial_number=body["new_serial_number"],
            reason=body["reason"],
            actor=request.auth,
        )
        return _entitlement_answer(request, entitlement.pk)


class ChangeFeedQuery(serializers.Serializer):
    after = serializers.CharField(
        required=False,
        max_length=40,
        help_text="The `cursor` of the last page read; leave it out to read from the start.",
    )
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500, default=100)

    def validate_after(self, value):
        if not re.fullmatch(r"[0-9]{1,18}", value.strip()):
            raise serializers.ValidationError("not a cursor from this feed")
        return int(value)


class EntitlementChangesView(ApiView):
    required_scopes = {"GET": Scope.ENTITLEMENTS_READ}

    @extend_schema(
        operation_id="entitlement_changes_list",
        summary="What changed, oldest first, after a cursor (the ERP's change feed)",
        parameters=[ChangeFeedQuery],
        responses={200: EntitlementChangePageOut, **ERRORS},
        description=(
            "Every change of every entitlement: created, activated, activation_revoked, "
            "rehosted (an activation moved to a replacement device), renewed, "
            "certificate_reissued, paper_delivery_recorded, suspended, reinstated, revoked, "
            "transferred, split, and status_changed when "
            "the calendar moves a subscription from active to grace to expired (recorded "
            "within minutes of midnight in the business time zone). Keep the answer's "
            "`cursor` and send it as `after`: each change comes exactly once, also one whose "
            "transaction commits after a later one's. "
            "activation_code is there only for clients with the entitlements:codes scope."
        ),
    )
    def get(self, request):
        query = validate(ChangeFeedQuery, request.query_params)
        cursor = query.get("after", 0)
        changes = entitlement_changes_after(position=cursor, limit=query["limit"] + 1)
        if not changes and cursor > (end := entitlement_changes_end()):
            # Never given by this feed (another installation's, a typo): answering an empty
            # page would have the client wait past every change up to it.
            raise Rejected([f"after: {cursor} is past the end of this feed (its last is {end})"])
        more, changes = len(changes) > query["limit"], changes[: query["limit"]]
        current = {
            entitlement.pk: entitlement
            for entitlement in api_entitlements(today=business_today()).filter(
                pk__in={change.entitlement_id for change in changes}
            )
        }
        out = _entitlement_serializer(request)
        results = []
        for change in changes:
            cursor = change.position
            results.append(
                {
                    "cursor": str(cursor),
                    "type": change.kind,
                    "ssrn": change.entitlement.ssrn,
                    "status": change.status,
                    "effective_on": change.effective_on.isoformat(),
                    "recorded_at": serializers.DateTimeField().to_representation(change.created_at),
                    "data": change.data,
                    "entitlement": out(current[change.entitlement_id]).data,
                }
            )
        return Response({"results": results, "cursor": str(cursor), "more": more})


def _import_out(result) -> dict:
    return {"rows": [{"row": row, "outcome": outcome} for row, outcome in result.rows]}


class ProductsView(ApiView):
    required_scopes = {"POST": Scope.CATALOG_WRITE}

    @extend_schema(
        operation_id="products_send",
        summary="Create or update products (the catalog file's shape)",
        request=CatalogFile,
        responses={200: ImportOut, **ERRORS},
    )
    def post(self, request):
        return Response(_import_out(catalog_import(document=request.data, actor=request.auth)))


def _association_refusals(contacts: list[dict]) -> list[str]:
    """What a client without accounts:associate may not do: associate a contact with an
    account, or move the login of a contact that sees accounts to another address (whoever
    holds the address can take the login over through "forgot password")."""
    lacks = f'this API client lacks the scope "{Scope.ACCOUNTS_ASSOCIATE}"'
    associated = associated_contact_emails(contact_ids=[c["contact_id"] for c in contacts])
    refused = []
    for index, contact in enumerate(contacts):
        if contact["account_ids"]:
            refused.append(f"contacts[{index}].account_ids: {lacks}")
        before = associated.get(contact["contact_id"])
        if before is not None and before.lower() != contact["email"].lower():
            refused.append(
                f"contacts[{index}].email: {lacks} to change the address of a contact "
                "associated with accounts"
            )
    return refused


class AccountsView(ApiView):
    required_scopes = {"POST": Scope.ACCOUNTS_WRITE}

    @extend_schema(
        operation_id="accounts_send",
        summary="Create or update accounts and contacts (the accounts file's shape)",
        description=(
            "Contacts with account_ids, and a new email for a contact associated with "
            "accounts, need the accounts:associate scope too (403 with each field's path). "
            "A new association is announced to the account's other "
            "contacts, and a changed email to the old address."
        ),
        request=AccountsFile,
        responses={200: ImportOut, **ERRORS},
    )
    def post(self, request):
        # An association gives a contact the account's entitlements and codes: that takes
        # its own scope. The body is checked whole first, so a bad body is 400 either way.
        data = validate(AccountsFile, request.data)
        if not request.auth.allows(Scope.ACCOUNTS_ASSOCIATE):
            refused = _association_refusals(data["contacts"])
            if refused:
                return Response({"errors": refused}, status=status.HTTP_403_FORBIDDEN)
        result = accounts_import(
            document=request.data, actor=request.auth, api_client=request.auth.name
        )
        return Response(_import_out(result))


class NotFoundView(ApiView):
    """Any other address under /api/v1/: a JSON 404, to a client with a token only."""

    schema = None
    permission_classes = [IsAuthenticated]

    def dispatch_not_found(self, request, *args, **kwargs):
        raise Http404(_("No such address in this API."))

    get = post = put = patch = delete = dispatch_not_found
