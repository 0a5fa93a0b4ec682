"""The example project as Schemathesis fuzzes it (``python3 dev.py fuzz``, run by .ci/run):
DEBUG off, so errors are real 500s and logged; the console provider allowed; the rate limits
and the pumping guard off, as a fuzzer from one address texting one range without verifying is
what they exist to stop, and the stateful phase needs verifications to chain
(tests/test_limits.py and tests/test_pumping.py cover them)."""

from example_project.settings import *  # noqa: F403
from example_project.settings import PHONE_VERIFY
from phone_verify.limits import DEFAULT_LIMITS

DEBUG = False
PHONE_VERIFY = {
    **PHONE_VERIFY,
    "ALLOW_CONSOLE_PROVIDER": True,
    "RATE_LIMITS": dict.fromkeys(DEFAULT_LIMITS),
    "PUMPING_GUARD": None,
}
