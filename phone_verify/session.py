"""What a browser session started: verifications and prefills are tied to it by their ids."""

from __future__ import annotations

from collections.abc import MutableMapping
from typing import Any

MAX_REMEMBERED = 20  # per kind; older ids drop off


def remember(session: MutableMapping[str, Any], kind: str, object_id: object) -> None:
    """Note that this session started ``object_id`` (a verification, a prefill)."""
    key = f"phone_verify_{kind}"
    session[key] = [*session.get(key, [])[-(MAX_REMEMBERED - 1) :], str(object_id)]


def remembers(session: MutableMapping[str, Any], kind: str, object_id: object) -> bool:
    return str(object_id) in session.get(f"phone_verify_{kind}", [])
