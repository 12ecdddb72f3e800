-- pg_stats per column of user tables (the playbook's "check index usage" query: n_distinct,
-- correlation), for index candidates on sequentially scanned tables. Only tables the role can read.
CREATE TABLE IF NOT EXISTS pg_column_stats (
    snapshot_id  BIGINT NOT NULL,
    schemaname   VARCHAR,
    relname      VARCHAR,
    attname      VARCHAR,
    null_frac    DOUBLE,
    avg_width    INTEGER,
    n_distinct   DOUBLE,     -- > 0: distinct values; < 0: minus the fraction of rows (PostgreSQL's convention)
    correlation  DOUBLE
);
