"""What TeleSign's codes mean to us, as data: ``status.code`` (of send answers, polls and
callbacks), ``errors[].code`` and a check's ``verify.code_state``. From TeleSign's SMS Verify
reference ("Transaction status codes", "Error codes"); a code not listed changes nothing and is
logged (see ``TeleSignProvider._status``)."""

from __future__ import annotations

from dataclasses import dataclass

from ..status import Status, Verdict


@dataclass(frozen=True)
class TeleSignStatus:
    """What one ``status.code`` means to us."""

    status: Status | None  # None: no change
    description: str
    retryable: bool = False  # on a send: try again later
    reason: str = ""  # when the code says more than the status: a refusal of the number


_S, _U, _R = Status.SENT, Status.UNDELIVERABLE, Status.REJECTED
#: ``status.code`` of send answers, polls and callbacks -> our status.
STATUS_CODES: dict[int, TeleSignStatus] = {
    290: TeleSignStatus(Status.PENDING, "Message in progress"),
    203: TeleSignStatus(_S, "Delivered to gateway"),
    292: TeleSignStatus(_S, "Queued by gateway"),
    295: TeleSignStatus(_S, "Status delayed"),
    250: TeleSignStatus(_S, "Final status unknown"),
    251: TeleSignStatus(_S, "Sent, no handset receipt within 12 h"),
    200: TeleSignStatus(Status.DELIVERED, "Delivered to handset"),
    201: TeleSignStatus(Status.DELIVERED, "Completed, suspicious activity"),
    207: TeleSignStatus(_U, "Delivery error, unknown reason"),
    210: TeleSignStatus(_U, "Temporary phone error"),
    211: TeleSignStatus(_U, "Permanent phone error"),
    220: TeleSignStatus(_U, "Cannot route"),
    221: TeleSignStatus(Status.EXPIRED, "Message expired before delivery"),
    222: TeleSignStatus(_U, "SMS not supported", reason="not_mobile"),
    229: TeleSignStatus(_R, "Blocked by your request or blocklist"),
    230: TeleSignStatus(_R, "Blocked by TeleSign's global blocklist"),
    231: TeleSignStatus(_R, "Invalid or unsupported content"),
    233: TeleSignStatus(_R, "Blocked: high risk score"),
    237: TeleSignStatus(_R, "Blocked in the requested country"),
    238: TeleSignStatus(_R, "Destination blocked by prefix"),
    500: TeleSignStatus(Status.FAILED, "Transaction not attempted"),
    501: TeleSignStatus(Status.FAILED, "Not authorised"),
    502: TeleSignStatus(_R, "Campaign or short-code error"),
    503: TeleSignStatus(_R, "Carrier rejected, temporary", retryable=True),
    504: TeleSignStatus(_R, "Carrier rejected, permanent"),
    505: TeleSignStatus(_R, "Gateway error, temporary", retryable=True),
    506: TeleSignStatus(_R, "Gateway error, permanent"),
    507: TeleSignStatus(_U, "Invalid destination", reason="invalid_phone_number"),
    508: TeleSignStatus(_R, "Invalid source address"),
    509: TeleSignStatus(_R, "Parameters problem"),
    510: TeleSignStatus(_U, "Blocked by subscriber"),
    511: TeleSignStatus(_U, "Subscriber low on credit"),
    512: TeleSignStatus(_U, "Roaming error"),
    513: TeleSignStatus(_U, "Number portability error"),
    514: TeleSignStatus(_U, "Subscriber absent"),
    515: TeleSignStatus(_R, "Suspected spam"),
    517: TeleSignStatus(_R, "India DLT details not supported"),
    518: TeleSignStatus(_R, "Blocked: SIM swap risk"),
    519: TeleSignStatus(_R, "SIM swap check impossible"),
    520: TeleSignStatus(_R, "Content not allowed"),
    521: TeleSignStatus(_R, "Sender ID not allowed for destination"),
    599: TeleSignStatus(None, "Status not available"),
}


@dataclass(frozen=True)
class TeleSignError:
    """What one ``errors[].code`` means to us."""

    code: str  # our machine code (the verification's reason)
    status: Status = Status.FAILED
    retryable: bool = False


_AUTH = TeleSignError("provider_auth")
#: ``errors[].code`` -> our outcome. -10001 names its parameter: see
#: ``TeleSignProvider._raise_for_errors``.
ERRORS: dict[int, TeleSignError] = {
    -10001: TeleSignError("provider_config"),
    -10004: TeleSignError("expired", Status.EXPIRED),  # reference id expired
    -10009: _AUTH,  # source IP not allowed
    -10030: TeleSignError("provider_account"),  # insufficient prepaid funds
    -10033: TeleSignError("number_not_allowed", Status.REJECTED),  # trial: unverified number
    -20002: TeleSignError("provider_config"),  # product not enabled
    -30013: TeleSignError("unknown_reference"),
    -40006: TeleSignError("provider_config"),  # bad request
    -40007: TeleSignError("provider_unavailable", retryable=True),  # rate limited
    -40008: TeleSignError("provider_quota"),  # hard cap reached
    -90001: TeleSignError("provider_unavailable", retryable=True),
    # -30000 ... -30015: customer id, Authorization header, signature, date, nonce, key
    **{code: _AUTH for code in range(-30015, -29999) if code != -30013},
}

#: ``verify.code_state`` of a check -> verdict; the others are errors (see
#: ``TeleSignProvider.parse_check_response``).
CODE_STATES: dict[str, Verdict] = {
    "VALID": Verdict.VALID,
    "INVALID": Verdict.INVALID,
    "EXPIRED": Verdict.EXPIRED,
    "MAX_ATTEMPTS_EXCEEDED": Verdict.LOCKED,  # TeleSign's own limit came before ours
}
