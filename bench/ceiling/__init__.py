"""The ceiling of the benchmark: bare DRF views doing exactly the database writes our flow
needs, and nothing else (no validation beyond JSON parsing, no consent record, no hashing)."""
