"""The signup-form mixin: a verified phone number and the consents, checked, linked to the user
and recorded in one transaction; with or without JavaScript."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django import forms
from django.db import transaction
from django.http import HttpRequest
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import services
from ..clients import client_ip
from ..exceptions import InvalidConsents, PhoneVerifyError, VerificationClosed
from ..models import ConsentRecord, Verification
from ..phones import PhoneLike, phone_text
from ..session import remembers
from ..status import CheckOutcome, Status
from .fields import (
    CheckedPhoneNumber,
    ConsentField,
    OneTimeCodeField,
    PhoneNumberField,
    checked_phone,
)

#: The name of the submit button that asks for a code (without JavaScript).
SEND_ACTION = "phone_verify_action"
#: How long a verified phone stays good for a signup.
VERIFIED_FOR = dt.timedelta(hours=1)
#: Said to the loser of two signups racing on one verification.
ALREADY_USED = _("This phone number was already used to sign up; verify it again.")

#: What a person reads when a code does not verify, per outcome.
CHECK_MESSAGES = {
    CheckOutcome.INVALID: _("This code is not right."),
    CheckOutcome.EXPIRED: _("This code has expired; ask for a new one."),
    CheckOutcome.LOCKED: _("Too many wrong codes; ask for a new verification later."),
    CheckOutcome.NOT_DELIVERED: _("The code could not be delivered; ask for a new one."),
    CheckOutcome.UNAVAILABLE: _("This verification cannot go on; start a new one."),
}


class PhoneVerificationFormMixin(forms.Form):
    """Adds a verified phone number and consents to a form (a signup form, typically).

    Pass ``request=`` when building the form. The form is valid only once the number is
    verified by this browser session; ``save()`` (on a ModelForm making a user) then links the
    user to the verification and records the consents, in one transaction; it raises
    ``forms.ValidationError`` (also added to the form) when another submission used the
    verification first. ``self.verification`` and ``self.consent_record`` hold the proof.
    """

    phone_number = PhoneNumberField()
    consents = ConsentField()
    verification_id = forms.UUIDField(required=False, widget=forms.HiddenInput)
    code = OneTimeCodeField(required=False)

    def __init__(self, *args: Any, request: HttpRequest, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request = request
        self.verification: Verification | None = None
        self.consent_record: ConsentRecord | None = None
        self.code_sent = False
        # A session now, so that codes sent by the script are tied to this browser.
        request.session.setdefault("phone_verify", True)

    @property
    def phone_verified(self) -> bool:
        return self.verification is not None

    @property
    def other_fields(self) -> list[forms.BoundField]:
        """The form's own fields, to render them around ``{% phone_verification form %}``."""
        ours = set(PhoneVerificationFormMixin.declared_fields)
        return [field for field in self if field.name not in ours]

    def is_valid(self) -> bool:
        # A "send me a code" post is not a submission: the form comes back with the code field.
        return super().is_valid() and not self.code_sent

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean()
        phone = cleaned.get("phone_number")
        # (Not ``not phone``: a PhoneNumber's truth value validates it again.)
        if phone is None or isinstance(phone, str) and not phone.strip():
            return cleaned  # no number: the field's own error says so, or there is none to verify
        if not isinstance(phone, CheckedPhoneNumber):
            # A site's ``clean_phone_number`` or a field of its own handed back a plain value:
            # checked here, once, by our rules. It never skips the verification.
            try:
                phone = cleaned["phone_number"] = checked_phone(phone)
            except forms.ValidationError as error:
                self.add_error("phone_number", error)
                return cleaned
        if self.data.get(SEND_ACTION) == "send":
            self._send_code(phone, cleaned.get("consents") or {})
            return cleaned
        verification = self._own_verification(cleaned.get("verification_id"), phone)
        if verification is None:
            if not self.has_error("code"):
                self.add_error("code", _("Verify your phone number: ask for a code first."))
            return cleaned
        if verification.status != Status.VERIFIED:
            verification = self._check(verification, cleaned.get("code") or "")
            if verification is None:
                return cleaned
        if verification.user_id is not None or (
            verification.verified_at and timezone.now() - verification.verified_at > VERIFIED_FOR
        ):
            self.add_error("phone_number", _("Verify your phone number again."))
            return cleaned
        self.verification = verification
        return cleaned

    def save(self, commit: bool = True) -> Any:
        """Save the form's object (the user) and tie it to the verification, all or nothing.

        Two submissions racing on one verification both pass ``clean``; linking is a
        conditional update, so one wins and the other rolls back its user and raises
        ``forms.ValidationError``, now also among the form's errors: show the form again.
        """
        if not commit:
            return super().save(commit=False)  # type: ignore[misc]
        with transaction.atomic():
            instance = super().save(commit=True)  # type: ignore[misc]
            self.link_user(instance)
        return instance

    def link_user(self, user: Any) -> None:
        """Tie ``user`` to the verification, and record the consents ticked (only now: a
        submission that fails records nothing). Run it in a transaction with the user's
        creation (``save`` does); ``forms.ValidationError`` when the verification was used."""
        if self.verification is None:
            return
        try:
            services.link_user(self.verification.pk, user)
        except VerificationClosed:
            error = forms.ValidationError(ALREADY_USED, code="phone_already_used")
            self.add_error(None, error)
            raise error from None
        self.consent_record = self._record_consents(
            self.verification, self.cleaned_data.get("consents") or {}
        )

    # --- steps ------------------------------------------------------------------------------

    def _send_code(self, phone: CheckedPhoneNumber, consents: Mapping[str, bool]) -> None:
        """Without JavaScript: send (or resend) a code, then show the form again."""
        previous = self._own_verification(self.cleaned_data.get("verification_id"), phone)
        try:
            if previous is not None and previous.is_open():
                verification = services.resend(
                    previous.pk, ip=client_ip(self.request), session=self.request.session
                )
            else:
                if not self.request.session.session_key:
                    self.request.session.save()  # a key now: the verification is bound to it
                verification = services.start_verification(
                    phone.parsed,  # checked by the field: the flow takes it as it is
                    consents=consents,
                    ip=client_ip(self.request),
                    user_agent=self.request.META.get("HTTP_USER_AGENT", ""),
                    method=ConsentRecord.Method.FORM,
                    session=self.request.session,
                )
        except PhoneVerifyError as error:
            field = "consents" if isinstance(error, InvalidConsents) else "phone_number"
            self.add_error(field, forms.ValidationError(error.detail, code=error.code))
            return
        self.data = self.data.copy()
        self.data[self.add_prefix("verification_id")] = str(verification.pk)
        self.data[self.add_prefix("code")] = ""
        self.code_sent = True

    def _own_verification(self, verification_id: Any, phone: PhoneLike) -> Verification | None:
        if not verification_id or not remembers(
            self.request.session, "verifications", verification_id
        ):
            return None
        verification = Verification.objects.filter(pk=verification_id).first()
        if verification is None or verification.phone_number != phone_text(phone):
            return None  # another number than the one verified: start again
        return verification

    def _check(self, verification: Verification, code: str) -> Verification | None:
        if not code:
            self.add_error("code", _("Enter the code we sent you."))
            return None
        try:
            result = services.check_code(
                verification.pk, code, ip=client_ip(self.request), session=self.request.session
            )
        except PhoneVerifyError as error:
            self.add_error("code", forms.ValidationError(error.detail, code=error.code))
            return None
        if not result.verified:
            self.add_error(
                "code",
                forms.ValidationError(
                    CHECK_MESSAGES.get(result.outcome, _("This code is not right.")),
                    code=result.outcome.value,
                ),
            )
            return None
        return result.verification

    def _record_consents(self, verification: Verification, flags: dict[str, bool]) -> ConsentRecord:
        """The record made when the code was asked for, or a new one if the boxes changed."""
        record = services.verification_consent(verification)
        if record is not None and record.flags == flags:
            return record
        return services.record_consent(
            verification.phone_number,
            flags,
            verification=verification,
            method=ConsentRecord.Method.FORM,
            ip=client_ip(self.request),
            user_agent=self.request.META.get("HTTP_USER_AGENT", ""),
            supersedes=record,
        )
