"""The example project's signup form: Django's own user creation form plus phone verification."""

from django import forms
from django.contrib.auth.forms import UserCreationForm
from django.contrib.auth.models import User
from django.utils.translation import gettext_lazy as _

from phone_verify.forms import PhoneVerificationFormMixin


class SignupForm(PhoneVerificationFormMixin, UserCreationForm):
    class Meta(UserCreationForm.Meta):
        model = User
        fields = ["username", "first_name", "last_name", "email"]
        widgets = {
            # Filled from the mobile operator when the site has DQE ID Mobile.
            "first_name": forms.TextInput(attrs={"data-phone-verify-prefill": "given_name"}),
            "last_name": forms.TextInput(attrs={"data-phone-verify-prefill": "family_name"}),
            "email": forms.EmailInput(attrs={"data-phone-verify-prefill": "email"}),
        }


class WithdrawForm(forms.Form):
    """Tick the channels to withdraw from the current consent."""

    channels = forms.MultipleChoiceField(
        label=_("Withdraw"), widget=forms.CheckboxSelectMultiple, choices=[]
    )

    def __init__(self, *args, granted, labels, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channels"].choices = [(key, labels[key]) for key in granted]
