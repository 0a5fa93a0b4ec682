"""The API's one parser: JSON under the input rule of ``phone_verify.inputs``."""

from __future__ import annotations

from typing import Any

from rest_framework.parsers import JSONParser

from .. import inputs


class StrictJSONParser(JSONParser):
    """JSON with a size limit, a nesting limit and strict UTF-8 (see ``inputs``), checked
    before ``json`` parses anything; violations raise our errors (413 / 400)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        # The Django request, not DRF's stream: its META holds the declared length.
        return inputs.decode_json(inputs.read_body(parser_context["request"]._request))
