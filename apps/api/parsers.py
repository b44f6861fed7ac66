"""How the API reads a body: the JSON of the import files, through the one reader of
outside JSON (apps.core.contracts.parse_json), so a body it cannot read is a 400 naming
the problem, `{"errors": ["body: ..."]}`, and never a 500."""

from django.utils.translation import gettext as _
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

from apps.core.contracts import Rejected, parse_json


class JsonBodyParser(JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        # JSON is UTF-8 (RFC 8259), whatever charset the request names. The body is already
        # bounded: ApiView refuses one larger than API_MAX_BODY_BYTES before it is read.
        try:
            text = stream.read().decode("utf-8")
        except UnicodeDecodeError:
            raise ParseError("body: " + _("not UTF-8 text")) from None
        try:
            return parse_json(text, "body")
        except Rejected as rejected:
            raise ParseError(rejected.errors[0]) from None
