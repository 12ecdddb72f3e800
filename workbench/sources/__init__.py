"""Sources: one outside format or protocol each (k6 files, PostgreSQL, Redis, Prometheus)."""
