from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class PhoneVerifyConfig(AppConfig):
    name = "phone_verify"
    verbose_name = _("Phone verification")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from . import (
            checks,  # noqa: F401  (registers the system checks)
            logs,
            tasks,  # noqa: F401  (registers Celery as the runner of the flows' jobs)
        )

        logs.install()
