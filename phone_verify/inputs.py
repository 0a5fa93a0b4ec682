"""What an endpoint accepts: the one rule, applied at the edge before anything is parsed.

- A body is at most ``MAX_BODY_SIZE`` bytes (413 past it), checked on the declared length
  before reading and on what is read (a body without a length is read one byte past the limit,
  no more).
- JSON nests at most ``MAX_JSON_DEPTH`` arrays/objects deep, checked on the raw text before
  ``json`` recurses into it (Python's parser raises ``RecursionError`` on a few thousand
  brackets, which no framework catches).
- Text is strict UTF-8: bytes that are not UTF-8, a lone surrogate (``"\\ud800"``, legal JSON
  but not encodable, so it breaks any answer that echoes it) and NUL (which PostgreSQL refuses
  in text) are refused with 400.

The API's parser, the webhooks and the views reading query strings all go through here; the
form views get the same from Django's own limits and its ``ProhibitNullCharactersValidator``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

from .conf import app_settings
from .exceptions import MalformedRequest, RequestTooLarge

# JSON strings (escapes included) are skipped when counting brackets: "[[[" inside a string
# nests nothing.
_JSON_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(rb"[\[\]{}]")


def read_body(request: HttpRequest, limit: int | None = None) -> bytes:
    """The request body, or ``RequestTooLarge`` when it is longer than ``limit`` bytes
    (``MAX_BODY_SIZE`` by default)."""
    limit = app_settings.MAX_BODY_SIZE if limit is None else limit
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise MalformedRequest(_("The Content-Length header is not a number.")) from None
    if declared > limit:
        raise RequestTooLarge()
    body = request.read(limit + 1)
    if len(body) > limit:
        raise RequestTooLarge()
    return body


def json_depth(raw: bytes) -> int:
    """How deeply arrays and objects nest in the JSON text ``raw`` (without parsing it)."""
    depth = deepest = 0
    for bracket in _BRACKETS.findall(_JSON_STRING.sub(b'""', raw)):
        if bracket in b"[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def decode_json(raw: bytes) -> Any:
    """``raw`` parsed as JSON under the rule above; ``MalformedRequest`` (400) otherwise."""
    if json_depth(raw) > app_settings.MAX_JSON_DEPTH:
        raise MalformedRequest(_("The JSON body is nested too deeply."))
    try:
        text = raw.decode("utf-8")
        value = json.loads(text)
    except UnicodeDecodeError:
        raise MalformedRequest(_("The body is not UTF-8.")) from None
    except ValueError:
        raise MalformedRequest(_("The body is not valid JSON.")) from None
    _check_strings(value)
    return value


def check_text(value: str) -> str:
    """``value`` if it can be stored and echoed: no NUL, no lone surrogate."""
    if "\x00" in value:
        raise MalformedRequest(_("Text may not contain NUL characters."))
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise MalformedRequest(_("Text must be valid Unicode.")) from None
    return value


def _check_strings(value: Any) -> None:
    # Recursion is safe here: the depth was bounded before parsing.
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, Mapping):
        for key, item in value.items():
            check_text(key)
            _check_strings(item)
    elif isinstance(value, list):
        for item in value:
            _check_strings(item)


__all__ = ["check_text", "decode_json", "json_depth", "read_body"]
