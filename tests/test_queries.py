"""SQL queries per request, pinned at the smallest numbers the design allows.

Create: INSERT verification, SELECT the notice text, SELECT ... FOR UPDATE the consent chain
head, INSERT consent record, UPDATE the chain head; then the send task: SELECT ... FOR UPDATE,
UPDATE verification, INSERT delivery event. (The first record of a notice text also inserts the
text: the create test warms up with one request, as a running site has.)
Check: SELECT ... FOR UPDATE, UPDATE. Get: SELECT.
On top, each transaction opens and releases a savepoint inside the test's own transaction
(2 statements per transaction; none in production, where these transactions are outermost).
"""

from __future__ import annotations

SAVEPOINTS = 2  # SAVEPOINT + RELEASE, per transaction, only because tests wrap each in one


def test_queries_per_create(api, django_assert_max_num_queries):
    api.start("+33612345679")
    with django_assert_max_num_queries(8 + 2 * SAVEPOINTS):
        assert api.start(consents={"sms": True}).status_code == 201


def test_queries_per_check(api, outbox, django_assert_max_num_queries):
    verification_id = api.start().json()["id"]
    with django_assert_max_num_queries(2 + SAVEPOINTS):
        assert api.check(verification_id, outbox.last_code("+33612345678")).status_code == 200


def test_queries_per_wrong_check(api, django_assert_max_num_queries):
    verification_id = api.start().json()["id"]
    with django_assert_max_num_queries(2 + SAVEPOINTS):
        assert api.check(verification_id, "000000").status_code in (200, 400)


def test_queries_per_get(api, django_assert_max_num_queries):
    verification_id = api.start().json()["id"]
    with django_assert_max_num_queries(1):
        assert api.get(f"verifications/{verification_id}/").status_code == 200
