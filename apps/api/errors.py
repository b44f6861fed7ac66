from django.core.exceptions import PermissionDenied
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from apps.core.contracts import Rejected, flatten_errors
from apps.orders.services import Conflict


def api_exception_handler(exc, context):
    """Every error is {"errors": ["path: message", ...]}: the field's path, then what is
    wrong. A conflict with what has shipped is 409; other bad input 400.

    Unlike DRF's own handler it marks no transaction for rollback: the API's views hold no
    request transaction, and each service has already undone its own work.
    """
    if isinstance(exc, Rejected):
        code = (
            status.HTTP_409_CONFLICT if isinstance(exc, Conflict) else status.HTTP_400_BAD_REQUEST
        )
        return Response({"errors": exc.errors}, status=code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(*(exc.args[:1] or ()))
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(*(exc.args[:1] or ()))
    if not isinstance(exc, exceptions.APIException):
        return None
    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))
    detail = exc.detail
    errors = flatten_errors(detail) if isinstance(detail, dict | list) else [str(detail)]
    return Response({"errors": errors}, status=exc.status_code, headers=headers)
