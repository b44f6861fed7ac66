"""Path converters shared by the URL configurations.

`<key:name>` is a key in an address (an order number, an SSRN): any text up to the next
slash, like `<str:name>`, but without control characters. No key holds one, and PostgreSQL
refuses a NUL even in a query, so such an address matches no route and answers 404 instead
of failing on its lookup.
"""

from django.urls import register_converter


class KeyConverter:
    regex = r"[^/\x00-\x1f\x7f]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(KeyConverter, "key")
