from rest_framework import permissions


class HasScope(permissions.BasePermission):
    """The client holds the scope the view names for the request's method."""

    message = "This API client may not do this."

    def has_permission(self, request, view):
        client = getattr(request, "auth", None)
        if client is None:
            return False
        scope = view.required_scopes.get(request.method)
        if scope is None:
            return False
        self.message = f'This API client lacks the scope "{scope}".'
        return client.allows(scope)
