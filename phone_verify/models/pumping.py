"""What the pumping guard paused, for staff to review and lift."""

from __future__ import annotations

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class PausedPrefix(models.Model):
    """A destination range the pumping guard paused (see ``pumping``): sends to it are refused
    until ``until``, unless staff lift the pause. The row is the record staff review; the pause
    itself lives in the counter cache, beside the counts it was decided on."""

    prefix = models.CharField(
        _("number range"), max_length=24, db_index=True, help_text=_("country code and digits")
    )
    paused_at = models.DateTimeField(_("paused at"), default=timezone.now)
    until = models.DateTimeField(_("paused until"))
    sends = models.PositiveIntegerField(_("codes sent"))
    verified = models.PositiveIntegerField(_("numbers verified"))
    lifted_at = models.DateTimeField(_("lifted at"), null=True, blank=True)
    lifted_by = models.CharField(_("lifted by"), max_length=150, blank=True)

    class Meta:
        verbose_name = _("paused number range")
        verbose_name_plural = _("paused number ranges")
        ordering = ["-paused_at"]

    def __str__(self) -> str:
        return self.prefix

    @property
    def in_force(self) -> bool:
        return self.lifted_at is None and self.until > timezone.now()
