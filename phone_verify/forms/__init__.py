"""Form fields, widgets and the signup-form mixin.

A site adds phone verification to its own form in a few lines::

    class SignupForm(PhoneVerificationFormMixin, UserCreationForm):
        ...

    form = SignupForm(request.POST or None, request=request)
    if form.is_valid():
        user = form.save()  # the user is linked to the verification

With JavaScript, ``phone_verify.js`` sends and checks the code through the REST API and the
final submit carries the verified id. Without it, the "send code" button posts the form, which
comes back with the code field; the final submit checks the code. Both end in ``clean``.
"""

from .fields import (
    CheckedPhoneNumber,
    ConsentField,
    ConsentWidget,
    OneTimeCodeField,
    OneTimeCodeWidget,
    PhoneNumberField,
    PhoneNumberWidget,
    country_choices,
)
from .signup import (
    ALREADY_USED,
    CHECK_MESSAGES,
    SEND_ACTION,
    VERIFIED_FOR,
    PhoneVerificationFormMixin,
)

__all__ = [
    "CheckedPhoneNumber",
    "ALREADY_USED",
    "CHECK_MESSAGES",
    "SEND_ACTION",
    "VERIFIED_FOR",
    "ConsentField",
    "ConsentWidget",
    "OneTimeCodeField",
    "OneTimeCodeWidget",
    "PhoneNumberField",
    "PhoneNumberWidget",
    "PhoneVerificationFormMixin",
    "country_choices",
]
