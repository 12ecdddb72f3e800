-- Alert backtests (`workbench alerts`): one ingest per backtest, append-only. `source` says whether the
-- rules' PromQL ran against a Prometheus server (promql) or the playbook's conditions were computed
-- from the store's own series (equivalent). Times are evaluation timestamps: start = first evaluation
-- at which the alert fired, end = first at which it no longer did (NULL: still firing at the window end).
CREATE TABLE IF NOT EXISTS alert_backtests (
    ingest_id    BIGINT PRIMARY KEY,        -- ingests.ingest_id
    source       VARCHAR NOT NULL,          -- promql | equivalent
    url          VARCHAR,                   -- Prometheus base URL (credentials never included)
    rules_file   VARCHAR NOT NULL,          -- the rule file's path, or "(default) playbook_alerts.yml"
    start_ts     TIMESTAMPTZ NOT NULL,
    end_ts       TIMESTAMPTZ NOT NULL,
    created_at   TIMESTAMPTZ NOT NULL
);

CREATE TABLE IF NOT EXISTS alert_rules (
    ingest_id          BIGINT NOT NULL,
    rule_no            INTEGER NOT NULL,    -- position in the backtest's results
    group_name         VARCHAR,
    alert              VARCHAR NOT NULL,
    expr               VARCHAR NOT NULL,
    equivalent         VARCHAR,             -- source = equivalent: what was computed instead of expr
    interval_s         DOUBLE NOT NULL,
    for_s              DOUBLE NOT NULL,
    keep_firing_for_s  DOUBLE NOT NULL,
    labels             MAP(VARCHAR, VARCHAR),
    annotations        MAP(VARCHAR, VARCHAR),
    evaluations        INTEGER NOT NULL,
    PRIMARY KEY (ingest_id, rule_no)
);

CREATE TABLE IF NOT EXISTS alert_firing (
    ingest_id    BIGINT NOT NULL,
    rule_no      INTEGER NOT NULL,
    alert        VARCHAR NOT NULL,
    labels       MAP(VARCHAR, VARCHAR),     -- the alert's label set, alertname included
    labels_text  VARCHAR NOT NULL,          -- {k="v", ...} without alertname, keys sorted
    active_at    TIMESTAMPTZ NOT NULL,      -- when it became pending
    start_ts     TIMESTAMPTZ NOT NULL,
    end_ts       TIMESTAMPTZ,
    value        DOUBLE                     -- the expression's value at start (NaN kept)
);
