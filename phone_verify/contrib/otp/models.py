"""``PhoneVerifyDevice``: a django-otp device whose codes are phone_verify verifications.

Unlike django-otp's own side-channel devices it keeps no token: each challenge is a
verification started through ``services`` (the configured provider, our rate limits, attempt
lockout, resend cooldown and delivery timeline all apply), and each token is checked by
``services.check_code``. The device only remembers which verification its challenge started.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django_otp.models import Device, VerifyNotAllowed

from ... import services
from ...conf import app_settings
from ...exceptions import InvalidPhoneNumber, PhoneVerifyError, ResendTooSoon
from ...models import Verification
from ...phones import mask_phone, parse_phone

#: The ``purpose`` of the verifications a device starts (admin filters and exports show it).
PURPOSE = "otp"


class PhoneVerifyDevice(Device):
    """A phone that receives login codes by SMS.

    ``generate_challenge()`` sends a code (a new verification, or a resend of the open one);
    ``verify_token(token)`` checks it. After ``MAX_CHECK_ATTEMPTS`` wrong codes the
    verification is locked: ``verify_is_allowed()`` says so, and even the right code is refused
    until a new challenge starts a new verification (the per-phone limits still count).
    """

    phone_number = models.CharField(_("phone number"), max_length=32, help_text=_("E.164"))
    verification = models.ForeignKey(
        Verification,
        verbose_name=_("current verification"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        editable=False,
    )

    class Meta:
        verbose_name = _("phone verification device")
        verbose_name_plural = _("phone verification devices")

    def __str__(self) -> str:
        return f"{self.name or mask_phone(self.phone_number)} ({self.user})"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone_number)

    def clean(self) -> None:
        """Store the number as E.164, refusing one that cannot receive our SMS."""
        try:
            self.phone_number = parse_phone(self.phone_number).e164
        except InvalidPhoneNumber as error:
            raise ValidationError({"phone_number": error.detail}, code=error.code) from None

    def generate_challenge(self) -> str:
        """Send a code to the phone and answer a message for the user (django-otp shows it).

        Raises ``PhoneVerifyError`` when no code can be sent now (a rate limit, the resend
        cooldown): django-otp's forms turn it into a form error.
        """
        current = self._open_verification()
        if current is not None:
            try:
                services.resend(current.pk)
            except ResendTooSoon as error:
                raise PhoneVerifyError(
                    gettext("A code was just sent; ask again in %(seconds)s s.")
                    % {"seconds": error.extra["retry_after"]},
                    code=error.code,
                ) from None
        else:
            self.verification = services.start_verification(
                self.phone_number, user=self.user, purpose=PURPOSE, with_consent=False
            )
            self.save(update_fields=["verification"])
        return gettext("code sent by SMS to %(phone)s") % {"phone": self.masked_phone}

    def verify_is_allowed(self) -> tuple[bool, dict[str, Any] | None]:
        verification = self.verification
        if verification is not None and verification.is_locked:
            return False, {
                "reason": VerifyNotAllowed.N_FAILED_ATTEMPTS,
                "failure_count": verification.attempts,
            }
        return True, None

    def verify_token(self, token: Any) -> bool:
        """Whether ``token`` is the code of the current challenge. A right code is single-use:
        the device forgets its verification once it is verified."""
        if self.verification_id is None or not self.verify_is_allowed()[0]:
            return False
        try:
            result = services.check_code(self.verification_id, str(token).strip())
        except PhoneVerifyError:
            return False  # malformed, or a rate limit: not a valid token
        self.verification = None if result.verified else result.verification
        self.save(update_fields=["verification"])
        return result.verified

    def _open_verification(self) -> Verification | None:
        verification = self.verification
        if verification is None:
            return None
        verification.refresh_from_db()
        if verification.effective_status().is_final:  # verified included
            return None
        if verification.sends >= app_settings.MAX_SENDS:
            return None  # spent: a new verification (the per-phone limits still count)
        return verification
