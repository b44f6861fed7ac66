from django.utils import timezone
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions

from apps.api.models import ApiClient, token_digest


class ClientPrincipal:
    """Stands for an integration client where DRF expects a user."""

    is_authenticated = True
    is_anonymous = False
    is_staff = False
    is_active = True
    pk = None

    def __init__(self, client: ApiClient):
        self.client = client

    def __str__(self):
        return f"API client {self.client.name}"


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer <token>`, looked up by the token's SHA-256."""

    keyword = "Bearer"

    def authenticate(self, request):
        """The client a valid token names. A refusal leaves its reason on the request as
        `token_refusal` (reason, the revoked client or None) for the audit of refused calls;
        the answer itself does not tell an unknown token from a revoked one."""
        request.token_refusal = ("no token", None)
        header = authentication.get_authorization_header(request).decode("latin-1").split()
        if not header or header[0].lower() != self.keyword.lower():
            return None
        if len(header) != 2:
            request.token_refusal = ("malformed header", None)
            raise exceptions.AuthenticationFailed(
                "Send the header as: Authorization: Bearer <token>."
            )
        client = ApiClient.objects.filter(token_digest=token_digest(header[1])).first()
        if client is None or client.revoked_at is not None:
            request.token_refusal = (
                ("unknown token", None) if client is None else ("revoked", client)
            )
            raise exceptions.AuthenticationFailed("The token is unknown or revoked.")
        request.token_refusal = None
        ApiClient.objects.filter(pk=client.pk).update(last_used_at=timezone.now())
        return ClientPrincipal(client), client

    def authenticate_header(self, request):
        return self.keyword


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "bearer"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "An API client's token."}
