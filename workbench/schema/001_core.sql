-- Core: the ingest log. Every ingest or snapshot writes one row here, in the same transaction as its data.
CREATE SEQUENCE IF NOT EXISTS ingest_id_seq START 1;
CREATE TABLE IF NOT EXISTS ingests (
    ingest_id        BIGINT PRIMARY KEY DEFAULT nextval('ingest_id_seq'),
    kind             VARCHAR NOT NULL,      -- k6-json, k6-csv, k6-summary, postgres, redis, prometheus...
    source           VARCHAR NOT NULL,      -- file path or URL (passwords redacted)
    sha256           VARCHAR,               -- of the file's bytes (NULL for live collections)
    run              VARCHAR,               -- k6 run id / series name, when the source has one
    label            VARCHAR,
    rows             BIGINT,
    started_at       TIMESTAMPTZ NOT NULL,
    finished_at      TIMESTAMPTZ,
    workbench_version VARCHAR NOT NULL,
    details          JSON                   -- warnings, format, counts
);
