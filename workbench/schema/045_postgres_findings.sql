-- PostgreSQL findings that hold on real servers (docs/postgres.md):
-- * pg_snapshots.notes: what a snapshot skipped or could not read (e.g. relations held in ACCESS
--   EXCLUSIVE by another session, whose sizes were not read); kind: 'full' (every set) or 'fast'
--   (statements, activity and counters only; slow-changing sets come from the last full snapshot).
-- * pg_indexes: what makes two indexes interchangeable, for duplicate detection.
-- * pg_databases: transaction ID and multixact age (wraparound check).
-- * pg_statements: pg_stat_statements 1.12 (PostgreSQL 18) counters.
-- * pg_sequences: how close each sequence (and the column it feeds) is to its maximum.
ALTER TABLE pg_snapshots ADD COLUMN notes VARCHAR[];
ALTER TABLE pg_snapshots ADD COLUMN kind VARCHAR DEFAULT 'full';
ALTER TABLE pg_indexes ADD COLUMN opclasses VARCHAR[];
ALTER TABLE pg_indexes ADD COLUMN collations VARCHAR[];
ALTER TABLE pg_indexes ADD COLUMN key_options INTEGER[];      -- pg_index.indoption per key (1: DESC, 2: NULLS FIRST)
ALTER TABLE pg_indexes ADD COLUMN include_columns VARCHAR[];  -- INCLUDE (...) columns
ALTER TABLE pg_databases ADD COLUMN xid_age BIGINT;           -- age(pg_database.datfrozenxid)
ALTER TABLE pg_databases ADD COLUMN mxid_age BIGINT;          -- mxid_age(pg_database.datminmxid)
ALTER TABLE pg_statements ADD COLUMN wal_buffers_full BIGINT;
ALTER TABLE pg_statements ADD COLUMN parallel_workers_to_launch BIGINT;
ALTER TABLE pg_statements ADD COLUMN parallel_workers_launched BIGINT;

CREATE TABLE IF NOT EXISTS pg_sequences (
    snapshot_id   BIGINT NOT NULL,
    schemaname    VARCHAR,
    sequencename  VARCHAR,
    data_type     VARCHAR,
    last_value    HUGEINT,     -- NULL: never used, or no USAGE/SELECT privilege on it
    min_value     HUGEINT,
    max_value     HUGEINT,
    increment_by  BIGINT,
    cycle         BOOLEAN,
    owner_table   VARCHAR,     -- the column the sequence feeds (serial / identity), if any
    owner_column  VARCHAR,
    owner_type    VARCHAR      -- e.g. integer: caps the usable range below the sequence's max_value
);
