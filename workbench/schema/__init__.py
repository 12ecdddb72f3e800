"""The store's schema: migrations NNN_name.sql, applied in order, each once (`Store.migrate`).

Two expressions of the vocabulary (090_vocabulary.sql) are needed outside the views as well: by the
Spark engine, which reads the raw Parquet layout, and by attached datasets written before a column
existed. `tests/test_vocabulary.py` checks that the migration uses these very texts.
"""

ENDPOINT_SQL = "coalesce(name, url, '(unnamed)')"
"""A k6 sample's endpoint (`k6_points.endpoint`): its `name` tag, else its URL."""

SERVER_KEY_SQL = "coalesce(system_identifier, '?') || '|' || host || ':' || port::VARCHAR || '/' || dbname"
"""A PostgreSQL snapshot's `server_key`: system identifier, host:port and database."""
