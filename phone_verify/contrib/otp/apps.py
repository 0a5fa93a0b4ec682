from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PhoneVerifyOtpConfig(AppConfig):
    name = "phone_verify.contrib.otp"
    label = "phone_verify_otp"
    verbose_name = _("Phone verification: django-otp devices")
    default_auto_field = "django.db.models.BigAutoField"
