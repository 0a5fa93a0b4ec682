"""A verification (one attempt to prove that someone holds a number) and its delivery reports.

No code is ever stored in clear: only its keyed hash, erased once the verification ends.
"""

from __future__ import annotations

import datetime as dt
import uuid

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from ..conf import app_settings
from ..phones import mask_phone
from ..status import LOCKED_REASON, NOT_DELIVERED, Status


class Verification(models.Model):
    """One attempt to prove that someone holds one phone number."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    phone_number = models.CharField(_("phone number"), max_length=16, help_text="E.164")
    country = models.CharField(_("country"), max_length=3, help_text="ISO-3166 alpha-3")
    provider = models.CharField(_("provider"), max_length=32)
    provider_reference = models.CharField(
        _("provider reference"), max_length=128, blank=True, db_index=True
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.PENDING
    )
    reason = models.CharField(
        _("reason"), max_length=64, blank=True, help_text=_("Machine code of why it ended.")
    )
    # HMAC of the code when we generated it; empty when the provider keeps the code.
    code_hash = models.CharField(max_length=64, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(_("attempts used"), default=0)
    sends = models.PositiveSmallIntegerField(_("sends requested"), default=1)
    sends_done = models.PositiveSmallIntegerField(_("sends handed to the provider"), default=0)
    created_at = models.DateTimeField(_("created"), default=timezone.now, db_index=True)
    last_sent_at = models.DateTimeField(_("last send requested"), default=timezone.now)
    expires_at = models.DateTimeField(_("expires"))
    verified_at = models.DateTimeField(_("verified"), null=True, blank=True)
    ip = models.GenericIPAddressField(_("requester IP"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="phone_verifications",
    )
    purpose = models.CharField(_("purpose"), max_length=64, default="signup")
    # Started from a browser session: only that session may see, check or resend it (others
    # get the answer an unknown id gets).
    session_bound = models.BooleanField(_("bound to its browser session"), default=False)
    polls = models.PositiveSmallIntegerField(_("status polls made"), default=0)
    # While set and in the future, a status poll is in flight: nobody starts another.
    poll_lease_until = models.DateTimeField(null=True, blank=True, editable=False)
    # The send outbox: set while send number ``sends`` is owed and not yet handed to a provider,
    # to the time after which the dispatcher hands it to the broker again (see ``outbox``).
    send_due_at = models.DateTimeField(_("send owed, re-dispatched after"), null=True, blank=True)

    class Meta:
        verbose_name = _("verification")
        verbose_name_plural = _("verifications")
        indexes = [
            models.Index(fields=["phone_number", "-created_at"], name="pv_verif_phone"),
            # Only owed sends are in it: the dispatcher's cost does not grow with the number of
            # finished verifications.
            models.Index(
                fields=["send_due_at"],
                name="pv_verif_send_due",
                condition=models.Q(send_due_at__isnull=False),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.masked_phone} ({self.get_status_display()})"

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone_number)

    def effective_status(self, now: dt.datetime | None = None) -> Status:
        """The status, reading an open verification past its ``expires_at`` as expired."""
        status = Status(self.status)
        if not status.is_final and (now or timezone.now()) >= self.expires_at:
            return Status.EXPIRED
        return status

    @property
    def not_delivered(self) -> bool:
        """The latest message never reached the phone (undeliverable, rejected on the way, or
        expired before delivery): a new code may be asked for."""
        return Status(self.status).is_final and self.reason in NOT_DELIVERED

    @property
    def is_locked(self) -> bool:
        """No guess may be evaluated any more: closed by too many wrong codes, or its
        ``MAX_CHECK_ATTEMPTS`` used up."""
        return self.reason == LOCKED_REASON or self.attempts >= app_settings.MAX_CHECK_ATTEMPTS

    def is_open(self, now: dt.datetime | None = None) -> bool:
        """Whether a new code may still be sent: not closed by an expired or used-up code, a
        refused number or a provider failure. A message that was not delivered closes nothing."""
        return self.not_delivered or not self.effective_status(now).is_final

    @property
    def resend_available_at(self) -> dt.datetime | None:
        """When the next code may be asked for; None when no more codes can be sent."""
        if not self.is_open() or self.sends >= app_settings.MAX_SENDS:
            return None
        return self.last_sent_at + dt.timedelta(seconds=app_settings.RESEND_COOLDOWN)


class DeliveryEvent(models.Model):
    """One status report from a provider (send answer, callback or poll): append-only."""

    class Kind(models.TextChoices):
        SEND = "send", _("send answer")
        CALLBACK = "callback", _("callback")
        POLL = "poll", _("poll")
        CHECK = "check", _("code check")
        SKIPPED = "skipped", _("send skipped")

    verification = models.ForeignKey(Verification, on_delete=models.CASCADE, related_name="events")
    created_at = models.DateTimeField(_("received"), default=timezone.now)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    provider = models.CharField(_("provider"), max_length=32)
    provider_reference = models.CharField(_("provider reference"), max_length=128, blank=True)
    provider_status = models.CharField(_("provider status"), max_length=64, blank=True)
    status = models.CharField(
        _("normalized status"), max_length=16, choices=Status.choices, blank=True
    )
    applied = models.BooleanField(_("changed the status"), default=False)
    occurred_at = models.DateTimeField(_("reported time"), null=True, blank=True)
    raw = models.JSONField(_("raw payload"), null=True, blank=True)
    # What the provider tells beside the status: price, currency, network (mcc, mnc), parts.
    details = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("delivery event")
        verbose_name_plural = _("delivery events")
        ordering = ["created_at", "id"]
        # Delivery reports may name an earlier send's reference or a message id: found here.
        indexes = [
            models.Index(fields=["provider", "provider_reference"], name="pv_event_reference")
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.provider_status or self.status}"
