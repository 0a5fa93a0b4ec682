"""The normalized lifecycle only moves forward."""

from __future__ import annotations

import pytest

from phone_verify.status import Status

ORDER = [Status.PENDING, Status.SENT, Status.DELIVERED]
ENDINGS = [Status.VERIFIED, Status.UNDELIVERABLE, Status.REJECTED, Status.EXPIRED, Status.FAILED]


@pytest.mark.parametrize(
    "earlier, later", [(a, b) for i, a in enumerate(ORDER) for b in ORDER[i + 1 :]]
)
def test_the_delivery_path_moves_forward_only(earlier, later):
    assert earlier.advances(later)
    assert not later.advances(earlier)


@pytest.mark.parametrize("ending", ENDINGS)
def test_nothing_leaves_an_ending(ending):
    assert ending.is_final
    assert not any(ending.advances(other) for other in Status)


@pytest.mark.parametrize("status", ORDER)
def test_open_statuses_can_end_in_every_ending(status):
    assert not status.is_final
    assert all(status.advances(ending) for ending in ENDINGS)


def test_a_status_does_not_advance_to_itself():
    assert not any(status.advances(status) for status in Status)


@pytest.mark.parametrize("failure", [Status.UNDELIVERABLE, Status.REJECTED, Status.EXPIRED])
def test_a_delivery_failure_report_never_undoes_a_confirmed_delivery(failure):
    assert Status.DELIVERED.advances(failure)  # a code expiring after delivery still ends it
    assert not Status.DELIVERED.accepts_report(failure)
    assert Status.SENT.accepts_report(failure) and Status.PENDING.accepts_report(failure)
    assert Status.DELIVERED.accepts_report(Status.VERIFIED)
    assert not Status.SENT.accepts_report(None)
