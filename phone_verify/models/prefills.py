"""Identity data a mobile operator gave to prefill a form: personal data with a short life."""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..phones import mask_phone


class IdentityPrefill(models.Model):
    """Identity data a mobile operator gives to prefill a form (DQE ID Mobile formfilling).

    Personal data with a short life: ``phone_verify_purge`` blanks it once ``PREFILL_RETENTION``
    has passed. Readable only by the browser session that started it (see ``prefills``).
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SUCCESS = "success", _("success")
        ERROR = "error", _("error")

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_number = models.CharField(_("phone number"), max_length=32, help_text="E.164")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    scope = models.CharField(_("scope"), max_length=64)
    operator = models.CharField(_("operator"), max_length=64, blank=True)
    operator_url = models.URLField(_("operator URL"), max_length=2048, blank=True)
    # The session token DQE hands back on the return; the retrieval credential.
    dqe_token = models.CharField(max_length=512, blank=True, editable=False)
    token_expires_at = models.DateTimeField(_("token expires"))
    return_url = models.CharField(_("return URL"), max_length=2048, default="/")
    # A keyed hash of the session key that started it (the proof of who asked, not a credential).
    session_hash = models.CharField(max_length=64, blank=True, editable=False)
    data = models.JSONField(_("identity data"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=64, blank=True, help_text=_("Machine code."))
    error_id = models.CharField(_("DQE error id"), max_length=8, blank=True)
    error_type = models.CharField(_("DQE error type"), max_length=128, blank=True)
    polls = models.PositiveSmallIntegerField(_("polls made"), default=0)
    next_poll_at = models.DateTimeField(null=True, blank=True, editable=False)
    poll_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    purged_at = models.DateTimeField(_("identity data purged"), null=True, blank=True)

    class Meta:
        verbose_name = _("identity prefill")
        verbose_name_plural = _("identity prefills")

    def __str__(self) -> str:
        return f"{self.masked_phone} ({self.get_status_display()})"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone_number)
