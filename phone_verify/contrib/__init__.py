"""Optional integrations with other Django libraries (each needs its extra installed)."""
