"""Consent evidence: the records (signed, chained, append-only), the notice texts people read,
the chain's head, and what providers echoed of the records."""

from __future__ import annotations

import json
from typing import Any

from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from .. import proofs
from ..codes import keyed_hash, keyed_hash_matches
from ..consents import CONSENT_KEYS, granted
from ..phones import mask_phone
from ..signing import digest
from ..status import Status
from .append_only import AppendOnlyModel, AppendOnlyQuerySet
from .verifications import Verification


class NoticeText(AppendOnlyModel):
    """The exact text of a consent notice as shown to people, in one version and language.

    Each consent record points to the text its person read; ``sha256`` (of the UTF-8 text) goes
    into the record's signed proof, so the proof says what was read, not only a version label.
    A text edited without a new version label is a new row (another digest), never an update.
    """

    version = models.CharField(_("notice version"), max_length=32)
    language = models.CharField(_("language"), max_length=16)
    text = models.TextField(_("text"))
    sha256 = models.CharField(_("SHA-256 of the text"), max_length=64)
    created_at = models.DateTimeField(_("first shown"), default=timezone.now)

    class Meta:
        verbose_name = _("notice text")
        verbose_name_plural = _("notice texts")
        constraints = [
            models.UniqueConstraint(
                fields=["version", "language", "sha256"], name="pv_notice_text_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.version} ({self.language}) {self.sha256[:12]}"

    @classmethod
    def shown(cls, version: str, language: str, text: str) -> NoticeText:
        """The row for this text, added the first time it is shown."""
        sha256 = digest(text.encode("utf-8"))
        notice, _created = cls.objects.get_or_create(
            version=version, language=language, sha256=sha256, defaults={"text": text}
        )
        return notice

    def text_is_intact(self) -> bool:
        return digest(self.text.encode("utf-8")) == self.sha256


class ConsentChainHead(models.Model):
    """The newest link of the consent chain (one row): its sequence number and digest, signed.

    Appends lock this row, so they form one line however many writers there are; the audit
    compares the chain's last record with it, so deleting the newest records is seen too.
    """

    sequence = models.PositiveBigIntegerField(default=0)
    digest = models.CharField(max_length=64, blank=True)
    key_id = models.CharField(max_length=32, blank=True)
    signature = models.CharField(max_length=128, blank=True)

    class Meta:
        verbose_name = _("consent chain head")

    def __str__(self) -> str:
        return f"#{self.sequence} {self.digest[:12]}"


class ConsentRecordQuerySet(AppendOnlyQuerySet):
    def bulk_create(self, objs: Any, *args: Any, **kwargs: Any) -> list[ConsentRecord]:
        """Insert many records at once, sealed, signed and chained in their order, as ``save``
        does one: no way into the table skips the proof."""
        records = list(objs)
        for record in records:
            record.seal = record.compute_seal()
        insert = super().bulk_create
        proofs.append(records, lambda: insert(records, *args, **kwargs))
        return records

    def for_phone(self, phone_number: str) -> ConsentRecordQuerySet:
        return self.filter(phone_number=phone_number)

    def in_force(self) -> ConsentRecordQuerySet:
        """Records that count: given through a verification that succeeded, or withdrawals.

        A record whose verification did not succeed is kept as evidence of the attempt but never
        becomes anyone's current consent: typing someone else's number proves nothing.
        """
        return self.filter(
            models.Q(verification__status=Status.VERIFIED)
            | models.Q(action=ConsentRecord.Action.WITHDRAWN)
        )

    def current_for(self, phone_number: str) -> ConsentRecord | None:
        """The consent of a phone now: its latest record in force."""
        return self.for_phone(phone_number).in_force().order_by("-created_at", "-id").first()


class ConsentRecord(AppendOnlyModel):
    """What a person agreed to for which contacts and channels, and the proof of it.

    Append-only: saving an existing record or deleting one raises ``AppendOnlyError``. A change
    of mind is a new record that ``supersedes`` the previous one. Each new record is signed with
    Ed25519 and chained to the one before it (see ``proofs``): ``signed_record`` holds the exact
    bytes signed, which is what a receipt hands out. Records made before signatures existed carry
    only the ``seal`` (HMAC keyed by SECRET_KEY), which new records keep too.
    """

    class Action(models.TextChoices):
        GIVEN = "given", _("given")
        WITHDRAWN = "withdrawn", _("withdrawn")

    class Method(models.TextChoices):
        FORM = "form", _("web form")
        API = "api", _("API")
        ADMIN = "admin", _("admin")

    phone_number = models.CharField(_("phone number"), max_length=16)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices)
    verification = models.ForeignKey(
        Verification,
        verbose_name=_("verification"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="consent_records",
    )
    supersedes = models.ForeignKey(
        "self",
        verbose_name=_("supersedes"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="superseded_by",
    )
    created_at = models.DateTimeField(_("recorded at"), default=timezone.now)
    ip = models.GenericIPAddressField(_("IP address"), null=True, blank=True)
    user_agent = models.CharField(_("user agent"), max_length=512, blank=True)
    method = models.CharField(_("collection method"), max_length=16, choices=Method.choices)
    notice_version = models.CharField(_("notice version"), max_length=32)
    language = models.CharField(_("notice language"), max_length=16)
    controller = models.CharField(_("controller"), max_length=200, blank=True)
    purpose = models.CharField(_("purpose"), max_length=200, blank=True)
    recorded_by = models.CharField(
        _("recorded by"), max_length=150, blank=True, help_text=_("Staff user, for withdrawals.")
    )
    seal = models.CharField(_("seal"), max_length=64, editable=False)
    notice = models.ForeignKey(
        NoticeText,
        verbose_name=_("notice text"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="records",
    )
    # The chain and the signature (empty on records older than signatures).
    sequence = models.PositiveBigIntegerField(
        _("position in the chain"), null=True, blank=True, unique=True, editable=False
    )
    previous_digest = models.CharField(max_length=64, blank=True, editable=False)
    digest = models.CharField(_("digest"), max_length=64, blank=True, editable=False)
    key_id = models.CharField(_("signing key"), max_length=32, blank=True, editable=False)
    signature = models.CharField(_("signature"), max_length=128, blank=True, editable=False)
    signed_record = models.TextField(_("signed record"), blank=True, editable=False)

    sms = models.BooleanField(_("SMS"), default=False)
    email = models.BooleanField(_("email"), default=False)
    phone = models.BooleanField(_("phone"), default=False)
    post = models.BooleanField(_("post"), default=False)
    sms2 = models.BooleanField(_("SMS, contact 2"), default=False)
    email2 = models.BooleanField(_("email, contact 2"), default=False)
    phone2 = models.BooleanField(_("phone, contact 2"), default=False)
    post2 = models.BooleanField(_("post, contact 2"), default=False)
    sms3 = models.BooleanField(_("SMS, contact 3"), default=False)
    email3 = models.BooleanField(_("email, contact 3"), default=False)
    phone3 = models.BooleanField(_("phone, contact 3"), default=False)
    post3 = models.BooleanField(_("post, contact 3"), default=False)
    sms4 = models.BooleanField(_("SMS, contact 4"), default=False)
    email4 = models.BooleanField(_("email, contact 4"), default=False)
    phone4 = models.BooleanField(_("phone, contact 4"), default=False)
    post4 = models.BooleanField(_("post, contact 4"), default=False)
    sms5 = models.BooleanField(_("SMS, contact 5"), default=False)
    email5 = models.BooleanField(_("email, contact 5"), default=False)
    phone5 = models.BooleanField(_("phone, contact 5"), default=False)
    post5 = models.BooleanField(_("post, contact 5"), default=False)

    objects = ConsentRecordQuerySet.as_manager()

    class Meta:
        verbose_name = _("consent record")
        verbose_name_plural = _("consent records")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["phone_number", "-created_at"], name="pv_consent_phone")]

    def __str__(self) -> str:
        return f"{self.masked_phone} {self.action} {self.created_at:%Y-%m-%d %H:%M}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            super().save(*args, **kwargs)  # raises AppendOnlyError
        self.seal = self.compute_seal()
        proofs.append([self], lambda: super(ConsentRecord, self).save(*args, **kwargs))

    @property
    def masked_phone(self) -> str:
        return mask_phone(self.phone_number)

    @property
    def flags(self) -> dict[str, bool]:
        return {key: getattr(self, key) for key in CONSENT_KEYS}

    @property
    def granted(self) -> list[str]:
        return granted(self.flags)

    def _seal_content(self) -> str:
        content = {
            "phone_number": self.phone_number,
            "action": self.action,
            "flags": self.flags,
            "verification": str(self.verification_id or ""),
            "supersedes": str(self.supersedes_id or ""),
            "created_at": self.created_at.isoformat(),
            "ip": self.ip or "",
            "user_agent": self.user_agent,
            "method": self.method,
            "notice_version": self.notice_version,
            "language": self.language,
            "controller": self.controller,
            "purpose": self.purpose,
            "recorded_by": self.recorded_by,
        }
        return json.dumps(content, sort_keys=True, separators=(",", ":"))

    def compute_seal(self, secret: str | None = None) -> str:
        """The HMAC seal under ``secret`` (SECRET_KEY when None)."""
        return keyed_hash(_SEAL_SALT, self._seal_content(), secret)

    def seal_is_valid(self) -> bool:
        """Whether the seal matches, under SECRET_KEY or one of SECRET_KEY_FALLBACKS."""
        return keyed_hash_matches(_SEAL_SALT, self._seal_content(), self.seal)


_SEAL_SALT = "phone_verify.consent.v1"


class ConsentEcho(AppendOnlyModel):
    """The consent flags a provider echoed back when it received a record's flags (DQE's
    ``channels``), kept beside the record (which never changes); ``matches`` is False when the
    echo differs from what the record says, so staff can see that the provider got it wrong."""

    record = models.ForeignKey(
        ConsentRecord, on_delete=models.PROTECT, related_name="echoes", verbose_name=_("record")
    )
    provider = models.CharField(_("provider"), max_length=32)
    channels = models.JSONField(_("echoed channels"))
    matches = models.BooleanField(_("matches the record"))
    received_at = models.DateTimeField(_("received"), default=timezone.now)

    class Meta:
        verbose_name = _("provider consent echo")
        verbose_name_plural = _("provider consent echoes")

    def __str__(self) -> str:
        return f"{self.provider} echo ({'matches' if self.matches else 'MISMATCH'})"
