"""``{% load phone_verify %}``: the verification block of a signup form, the consent grid alone,
and the ``mask_phone`` filter. Templates are under ``phone_verify/``: a site overrides them by
putting its own at the same path in its templates directory."""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.urls import reverse

from .. import phones, prefills

register = template.Library()


@register.inclusion_tag("phone_verify/verification_block.html")
def phone_verification(form: Any) -> dict[str, Any]:
    """The whole block: phone, consents, send button, code entry, status; and the script that
    drives it through the REST API (the block works without it, by plain form posts)."""
    return {
        "form": form,
        "api_root": reverse("phone_verify_api:verification-list").removesuffix("verifications/"),
        "prefill": prefills.id_mobile().configured,
        "code_shown": bool(getattr(form, "code_sent", False) or form["verification_id"].value()),
        "verified": bool(getattr(form, "phone_verified", False)),
    }


@register.inclusion_tag("phone_verify/consent_grid.html")
def consent_grid(field: BoundField) -> dict[str, Any]:
    """The consent grid alone, with its legend and errors."""
    return {"field": field}


@register.filter
def mask_phone(value: str) -> str:
    """``+33612345678`` -> ``+33 6 ** ** *6 78``."""
    return phones.mask_phone(str(value or ""))
