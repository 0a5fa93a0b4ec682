"""The app's models, one module per group; every model is importable from here.

- ``verifications``: Verification, DeliveryEvent (no code is ever stored in clear)
- ``consents``: ConsentRecord (append-only, signed, chained), NoticeText, ConsentChainHead,
  ConsentEcho
- ``prefills``: IdentityPrefill; ``pumping``: PausedPrefix
- ``append_only``: AppendOnlyModel and its error, for consent evidence
"""

from .append_only import AppendOnlyError, AppendOnlyModel, AppendOnlyQuerySet
from .consents import (
    ConsentChainHead,
    ConsentEcho,
    ConsentRecord,
    ConsentRecordQuerySet,
    NoticeText,
)
from .prefills import IdentityPrefill
from .pumping import PausedPrefix
from .verifications import DeliveryEvent, Verification

__all__ = [
    "AppendOnlyError",
    "AppendOnlyModel",
    "AppendOnlyQuerySet",
    "ConsentChainHead",
    "ConsentEcho",
    "ConsentRecord",
    "ConsentRecordQuerySet",
    "DeliveryEvent",
    "IdentityPrefill",
    "NoticeText",
    "PausedPrefix",
    "Verification",
]
