-- k6 runs. A run holds one points file per k6 instance (JSON or CSV; several instances add up) plus at
-- most one summary (--summary-export or handleSummary JSON).
CREATE TABLE IF NOT EXISTS k6_runs (
    run         VARCHAR PRIMARY KEY,
    label       VARCHAR,
    tags        MAP(VARCHAR, VARCHAR),     -- --tag KEY=VALUE (git SHA, environment, executor...)
    created_at  TIMESTAMPTZ NOT NULL
);

-- One row per sample, as stored. Common tags get typed columns ('' becomes NULL); `tags` keeps every
-- tag as k6 wrote it (JSON text is the fastest thing to store; the view below derives extra_tags).
CREATE TABLE IF NOT EXISTS k6_samples (
    run               VARCHAR NOT NULL,
    ingest_id         BIGINT NOT NULL,
    metric            VARCHAR NOT NULL,
    ts                TIMESTAMPTZ NOT NULL,
    value             DOUBLE NOT NULL,
    status            VARCHAR,
    method            VARCHAR,
    name              VARCHAR,
    url               VARCHAR,
    scenario          VARCHAR,
    group_name        VARCHAR,          -- k6 tag `group`
    expected_response VARCHAR,          -- 'true' / 'false' as k6 writes it
    check_name        VARCHAR,          -- k6 tag `check`
    proto             VARCHAR,
    error_code        VARCHAR,
    tags              JSON,             -- every tag of the sample
    metadata          JSON              -- k6 metadata (e.g. trace_id), when present
);

-- What analysis reads: the samples plus extra_tags, the tags without a typed column, as a MAP.
CREATE OR REPLACE VIEW k6_points AS
SELECT run, ingest_id, metric, ts, value, status, method, name, url, scenario, group_name,
       expected_response, check_name, proto, error_code,
       map_from_entries(list_filter(map_entries(CAST(tags AS MAP(VARCHAR, VARCHAR))),
           lambda e: NOT list_contains(['status', 'method', 'name', 'url', 'scenario', 'group',
                                        'expected_response', 'check', 'proto', 'error_code'], e.key)))
           AS extra_tags,
       tags, metadata
FROM k6_samples;

-- Metric metadata: type (counter|gauge|rate|trend), contains (default|time|data), where the type came
-- from (json = k6 wrote it, builtin = k6's documented type, summary = the run's summary, inferred).
CREATE TABLE IF NOT EXISTS k6_metrics (
    run          VARCHAR NOT NULL,
    metric       VARCHAR NOT NULL,
    type         VARCHAR NOT NULL,
    contains     VARCHAR,
    thresholds   VARCHAR[],
    submetrics   VARCHAR[],
    type_source  VARCHAR NOT NULL,
    PRIMARY KEY (run, metric)
);

-- At most one summary per run, normalised to k6's keys: {metric: {type, contains, values: {...},
-- thresholds: {expr: {ok}}}}; test_run_duration_ms from handleSummary's state when present.
CREATE TABLE IF NOT EXISTS k6_summaries (
    run                   VARCHAR PRIMARY KEY,
    ingest_id             BIGINT NOT NULL,
    format                VARCHAR NOT NULL,   -- summary-export | handle-summary
    test_run_duration_ms  DOUBLE,
    metrics               JSON NOT NULL
);

CREATE OR REPLACE VIEW k6_run_spans AS
SELECT run, min(ts) AS started_at, max(ts) AS ended_at, count(*) AS points,
       count(*) FILTER (WHERE metric = 'http_reqs') AS requests
FROM k6_samples GROUP BY run;
