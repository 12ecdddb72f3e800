-- k6 samples stored as DuckDB reads them fastest: rows keep their tags as raw JSON text, and a tag-set
-- dictionary parses each distinct tag set once (a run has hundreds of distinct sets, millions of rows).
-- `k6_samples` (same columns as before) and `k6_points` are views joining the two on the text.

-- One row per sample, as stored.
CREATE TABLE k6_rows (
    run        VARCHAR NOT NULL,
    ingest_id  BIGINT NOT NULL,
    metric     VARCHAR NOT NULL,
    ts         TIMESTAMPTZ NOT NULL,
    value      DOUBLE NOT NULL,
    tags       JSON,             -- every tag of the sample, as k6 wrote it
    metadata   JSON              -- k6 metadata (e.g. trace_id), when present
);

-- One row per distinct tag set: the common tags as typed columns ('' becomes NULL), the rest as a MAP.
CREATE TABLE k6_tagsets (
    tags               JSON PRIMARY KEY,
    status             VARCHAR,
    method             VARCHAR,
    name               VARCHAR,
    url                VARCHAR,
    scenario           VARCHAR,
    group_name         VARCHAR,          -- k6 tag `group`
    expected_response  VARCHAR,          -- 'true' / 'false' as k6 writes it
    check_name         VARCHAR,          -- k6 tag `check`
    proto              VARCHAR,
    error_code         VARCHAR,
    extra_tags         MAP(VARCHAR, VARCHAR)   -- the tags without a typed column
);

-- The tag sets of k6_rows (of ingest INGEST; NULL: all) that the dictionary lacks, parsed. Every writer
-- of k6_rows adds them with INSERT INTO k6_tagsets SELECT * FROM k6_new_tagsets(...).
CREATE MACRO k6_new_tagsets(ingest) AS TABLE
SELECT tags,
       nullif(t.status, ''), nullif(t.method, ''), nullif(t.name, ''), nullif(t.url, ''), nullif(t.scenario, ''),
       nullif(t."group", ''), nullif(t.expected_response, ''), nullif(t."check", ''), nullif(t.proto, ''),
       nullif(t.error_code, ''),
       map_from_entries(list_filter(map_entries(CAST(tags AS MAP(VARCHAR, VARCHAR))),
           lambda e: NOT list_contains(['status', 'method', 'name', 'url', 'scenario', 'group',
                                        'expected_response', 'check', 'proto', 'error_code'], e.key)))
FROM (SELECT tags, json_transform(tags, '{"status":"VARCHAR","method":"VARCHAR","name":"VARCHAR","url":"VARCHAR",'
                                        '"scenario":"VARCHAR","group":"VARCHAR","expected_response":"VARCHAR",'
                                        '"check":"VARCHAR","proto":"VARCHAR","error_code":"VARCHAR"}') AS t
      FROM (SELECT DISTINCT tags FROM k6_rows WHERE (ingest IS NULL OR ingest_id = ingest) AND tags IS NOT NULL) n
      WHERE NOT EXISTS (SELECT 1 FROM k6_tagsets d WHERE d.tags = n.tags));

-- Existing stores: move the rows over (their typed columns were derived from `tags`, so the dictionary
-- derives the same values), then replace the table by views of the same columns.
INSERT INTO k6_rows SELECT run, ingest_id, metric, ts, value, tags, metadata FROM k6_samples;
INSERT INTO k6_tagsets SELECT * FROM k6_new_tagsets(NULL);
DROP VIEW IF EXISTS k6_points;
DROP VIEW IF EXISTS k6_run_spans;
DROP TABLE k6_samples;

-- The samples with their typed tag columns: the columns (and order) of the former table, which the Parquet
-- layout keeps. An attached dataset replaces this view by its files.
CREATE VIEW k6_samples AS
SELECT r.run, r.ingest_id, r.metric, r.ts, r.value, d.status, d.method, d.name, d.url, d.scenario, d.group_name,
       d.expected_response, d.check_name, d.proto, d.error_code, r.tags, r.metadata
FROM k6_rows r LEFT JOIN k6_tagsets d ON d.tags = r.tags;

-- What analysis reads: the samples plus extra_tags, the tags without a typed column, as a MAP. Rows whose
-- tag set the dictionary lacks (an attached dataset) parse their own tags.
CREATE VIEW k6_points AS
SELECT s.run, s.ingest_id, s.metric, s.ts, s.value, s.status, s.method, s.name, s.url, s.scenario, s.group_name,
       s.expected_response, s.check_name, s.proto, s.error_code,
       CASE WHEN d.tags IS NOT NULL THEN d.extra_tags ELSE
           map_from_entries(list_filter(map_entries(CAST(s.tags AS MAP(VARCHAR, VARCHAR))),
               lambda e: NOT list_contains(['status', 'method', 'name', 'url', 'scenario', 'group',
                                            'expected_response', 'check', 'proto', 'error_code'], e.key))) END
           AS extra_tags,
       s.tags, s.metadata
FROM k6_samples s LEFT JOIN k6_tagsets d ON d.tags = s.tags;

CREATE VIEW k6_run_spans AS
SELECT run, min(ts) AS started_at, max(ts) AS ended_at, count(*) AS points,
       count(*) FILTER (WHERE metric = 'http_reqs') AS requests
FROM k6_samples GROUP BY run;
