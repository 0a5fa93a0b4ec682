"""Request and answer shapes. Validation of meaning (numbers, consents, codes) is the
services' job; these only check types and sizes."""

from __future__ import annotations

from typing import Any

from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers
from rest_framework.settings import api_settings

from ..consents import CONSENT_KEYS
from ..models import IdentityPrefill, Verification
from ..phones import phone_text
from ..status import Status

CONSENTS_SCHEMA = {
    "type": "object",
    "description": (
        "Consent per channel: sms, email, phone, post for the primary contact and the same "
        "with a suffix 2-5 for secondary contacts. Missing keys are false."
    ),
    "properties": {key: {"type": "boolean"} for key in CONSENT_KEYS},
    "additionalProperties": False,
}


@extend_schema_field(CONSENTS_SCHEMA)
class ConsentsField(serializers.Field):
    """A JSON object passed through as is; ``services`` checks keys and values strictly."""

    default_error_messages = {"not_an_object": "Expected an object of channel: true/false."}

    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, dict):
            self.fail("not_an_object")
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class StringField(serializers.CharField):
    """A CharField that takes only JSON strings: ``123456`` would silently lose leading zeros."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class PhoneNumberField(StringField):
    """A phone number as a string; from Python code, a ``PhoneNumber`` too (as E.164)."""

    def to_internal_value(self, data: Any) -> str:
        return super().to_internal_value(phone_text(data))


def country_field() -> StringField:
    # Alpha-2 as well: django-phonenumber-field's widget (the signup form's) names regions so.
    return StringField(
        min_length=2,
        max_length=3,
        required=False,
        help_text="ISO-3166 alpha-3 (e.g. FRA) or alpha-2 (FR)",
    )


class RequestSerializer(serializers.Serializer):
    """A request body: a JSON object with these fields and no others (an unknown field is a
    mistake or a probe; the schema says ``additionalProperties: false``)."""

    default_error_messages = {"unknown_fields": _("Unknown fields: %(fields)s.")}

    def to_internal_value(self, data: Any) -> Any:
        value = super().to_internal_value(data)  # refuses what is not an object
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            names = ", ".join(name[:20] for name in unknown[:5])
            raise serializers.ValidationError(
                {
                    api_settings.NON_FIELD_ERRORS_KEY: [
                        self.error_messages["unknown_fields"] % {"fields": names}
                    ]
                }
            )
        return value


class EmptyRequestSerializer(RequestSerializer):
    """The body of an action that takes no data: ``{}``."""


class StartVerificationSerializer(RequestSerializer):
    """Start a verification: the number, its country if the number does not say it, and the
    consents given."""

    phone_number = PhoneNumberField(
        min_length=1, max_length=32, help_text="E.164, or national with country"
    )
    country = country_field()
    consents = ConsentsField(required=False)


def _model_field(name: str) -> dict[str, Any]:
    """The label and help text a ModelSerializer would give ``Verification.name``."""
    field = Verification._meta.get_field(name)
    return {"label": capfirst(field.verbose_name), "help_text": field.help_text or None}


# A plain Serializer with the fields a ModelSerializer would build (same types, labels and help
# texts: the same answer and the same schema; no docstring, it would become the schema's
# description): a ModelSerializer builds them again from the model for every answer, 0.1 ms of
# each create.
class VerificationSerializer(serializers.Serializer):
    id = serializers.UUIDField(read_only=True)
    status = serializers.SerializerMethodField()
    phone_number = serializers.CharField(read_only=True, **_model_field("phone_number"))
    expires_at = serializers.DateTimeField(read_only=True, **_model_field("expires_at"))
    resend_available_at = serializers.DateTimeField(read_only=True, allow_null=True)

    @extend_schema_field(serializers.ChoiceField(choices=Status.choices))
    def get_status(self, verification: Verification) -> str:
        return verification.effective_status().value


class CheckCodeSerializer(RequestSerializer):
    """The code the person received."""

    code = StringField(min_length=1, max_length=20)


class CheckedSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=Status.choices)
    verified_at = serializers.DateTimeField()


class ErrorSerializer(serializers.Serializer):
    code = serializers.CharField()
    detail = serializers.CharField()


class InvalidCodeSerializer(ErrorSerializer):
    attempts_left = serializers.IntegerField(
        required=False, help_text="With invalid_code: wrong codes still allowed"
    )
    resend_available_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="With not_delivered: when a new code may be asked for (null: no more codes)",
    )


class StartPrefillSerializer(RequestSerializer):
    """Ask the mobile operator for the identity of this number's owner (DQE ID Mobile)."""

    phone_number = PhoneNumberField(
        min_length=1, max_length=32, help_text="E.164, or national with country"
    )
    country = country_field()
    return_url = StringField(
        max_length=2048,
        required=False,
        help_text="Page of this site the browser comes back to (default: the Referer, or /)",
    )


class StartedPrefillSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=IdentityPrefill.Status.choices)
    redirect_url = serializers.URLField(
        source="operator_url", help_text="Send the browser here: the operator asks for consent"
    )


class PrefillSerializer(serializers.Serializer):
    id = serializers.UUIDField()
    status = serializers.ChoiceField(choices=IdentityPrefill.Status.choices)
    data = serializers.JSONField(
        allow_null=True, help_text="The operator's formfilling fields once status is success"
    )
    code = serializers.CharField(required=False, help_text="Why it ended, when status is error")
    detail = serializers.CharField(required=False)
