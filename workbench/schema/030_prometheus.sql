-- Prometheus: named series sets (one per `collect prometheus` / `ingest prometheus`), their series and
-- raw points. A set is one ingest; --replace deletes the old set's rows and writes the new ones.
CREATE TABLE IF NOT EXISTS prom_series_sets (
    ingest_id    BIGINT PRIMARY KEY,        -- ingests.ingest_id
    name         VARCHAR NOT NULL,          -- unique among current sets (enforced on write)
    query        VARCHAR,                   -- PromQL (NULL for a saved file: the file does not say)
    preset       VARCHAR,                   -- preset name when collected from one
    url          VARCHAR,                   -- server base URL, credentials never included
    result_type  VARCHAR NOT NULL,          -- matrix | vector | scalar
    start_ts     TIMESTAMPTZ,
    end_ts       TIMESTAMPTZ,
    step_s       DOUBLE,
    windows      INTEGER,                   -- range requests made (11,000-point split)
    warnings     VARCHAR[],                 -- Prometheus's `warnings` plus ours (empty result)
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE SEQUENCE IF NOT EXISTS prom_series_id_seq START 1;
CREATE TABLE IF NOT EXISTS prom_series (
    series_id    BIGINT PRIMARY KEY DEFAULT nextval('prom_series_id_seq'),
    ingest_id    BIGINT NOT NULL,
    name         VARCHAR NOT NULL,
    labels       MAP(VARCHAR, VARCHAR),     -- including __name__ when the result has it
    labels_text  VARCHAR NOT NULL,          -- Prometheus notation: name{k="v", ...}, keys sorted
    points       BIGINT NOT NULL
);

-- NaN, +Inf and -Inf are kept as DOUBLE values.
CREATE TABLE IF NOT EXISTS prom_points (
    series_id    BIGINT NOT NULL,
    ts           TIMESTAMPTZ NOT NULL,
    value        DOUBLE
);
