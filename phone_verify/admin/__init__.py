"""Staff review: verifications with their delivery timeline, consent records read-only, identity
prefills masked, paused number ranges. One module per model's pages; the options are in the
ModelAdmin classes, what the pages show is in ``templates/admin/phone_verify/`` (a site
overrides a template by putting its own at the same path).

Phone numbers are masked in lists; codes (and their hashes) are never shown.
"""

from .base import MaskedPhoneMixin, ReadOnlyMixin, ReviewAdmin, ReviewChangeList
from .consents import ConsentEchoInline, ConsentRecordAdmin
from .list_filters import ChannelFilter, ContactFilter, CurrentFilter, VerifiedFilter
from .prefills import IdentityPrefillAdmin, mask_identity
from .pumping import PausedPrefixAdmin
from .verifications import DeliveryEventInline, VerificationAdmin

__all__ = [
    "ChannelFilter",
    "ConsentEchoInline",
    "ConsentRecordAdmin",
    "ContactFilter",
    "CurrentFilter",
    "DeliveryEventInline",
    "IdentityPrefillAdmin",
    "MaskedPhoneMixin",
    "PausedPrefixAdmin",
    "ReadOnlyMixin",
    "ReviewAdmin",
    "ReviewChangeList",
    "VerificationAdmin",
    "VerifiedFilter",
    "mask_identity",
]
