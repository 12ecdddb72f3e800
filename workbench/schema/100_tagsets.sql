-- Tag-set dictionary (issue 15, item 5). A run writes millions of points but only hundreds of distinct
-- tag sets, so an ingest stores each point's tags as the JSON text k6 wrote (DuckDB's raw copy speed)
-- and parses each distinct tag set once, into k6_tagsets. `k6_samples` becomes the view that joins
-- the two: the same columns as before, so k6_points, the reports and the Parquet export read it unchanged.

-- Points stored before this migration keep their typed columns where they are (nothing is rewritten).
ALTER TABLE k6_samples RENAME TO k6_samples_v1;

-- One row per point: the tags as k6 wrote them (JSON text, the join key into k6_tagsets). The run is
-- the ingest's (ingests.run): a column repeating it on every row cost the ingest ~5% of its speed.
CREATE TABLE IF NOT EXISTS k6_sample_rows (
    ingest_id  BIGINT NOT NULL,
    metric     VARCHAR NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    value      DOUBLE NOT NULL,
    tags       JSON,
    metadata   JSON
);

-- One row per distinct tags text: the common tags as typed columns ('' becomes NULL), parsed once.
-- Ingests add the tag sets they bring (workbench.sources.k6.record_tagsets); entries are never removed.
CREATE TABLE IF NOT EXISTS k6_tagsets (
    tags              JSON NOT NULL,
    status            VARCHAR,
    method            VARCHAR,
    name              VARCHAR,
    url               VARCHAR,
    scenario          VARCHAR,
    group_name        VARCHAR,
    expected_response VARCHAR,
    check_name        VARCHAR,
    proto             VARCHAR,
    error_code        VARCHAR
);

CREATE OR REPLACE VIEW k6_samples AS
SELECT i.run, r.ingest_id, r.metric, r.ts, r.value, d.status, d.method, d.name, d.url, d.scenario, d.group_name,
       d.expected_response, d.check_name, d.proto, d.error_code, r.tags, r.metadata
FROM k6_sample_rows r JOIN ingests i ON i.ingest_id = r.ingest_id LEFT JOIN k6_tagsets d ON d.tags = r.tags
UNION ALL
SELECT run, ingest_id, metric, ts, value, status, method, name, url, scenario, group_name,
       expected_response, check_name, proto, error_code, tags, metadata
FROM k6_samples_v1;
