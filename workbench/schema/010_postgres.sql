-- PostgreSQL snapshots (workbench collect postgres). One row in pg_snapshots per snapshot, with the
-- server's identity; every other pg_* table is keyed by snapshot_id and append-only. Counters are
-- stored as PostgreSQL reports them (cumulative); deltas are computed by queries (workbench.analysis.postgres).
CREATE SEQUENCE IF NOT EXISTS pg_snapshot_id_seq START 1;
CREATE TABLE IF NOT EXISTS pg_snapshots (
    snapshot_id          BIGINT PRIMARY KEY DEFAULT nextval('pg_snapshot_id_seq'),
    ingest_id            BIGINT NOT NULL,
    taken_at             TIMESTAMPTZ NOT NULL,   -- server clock (now()) at the start of the snapshot
    label                VARCHAR,
    system_identifier    VARCHAR,                -- pg_control_system(); NULL when not readable
    host                 VARCHAR NOT NULL,       -- as connected (TCP host or socket directory)
    port                 INTEGER NOT NULL,
    dbname               VARCHAR NOT NULL,
    username             VARCHAR,                -- the role the collector used
    server_version       VARCHAR,
    server_version_num   INTEGER,
    pgss_version         VARCHAR,                -- pg_extension.extversion of pg_stat_statements
    pgss_columns         VARCHAR[],              -- columns the installed view actually had
    pgss_dealloc         BIGINT,                 -- pg_stat_statements_info (1.9+)
    pgss_stats_reset     TIMESTAMPTZ,
    db_stats_reset       TIMESTAMPTZ,            -- pg_stat_database.stats_reset of the connected db
    postmaster_start     TIMESTAMPTZ,
    in_recovery          BOOLEAN,
    max_connections      INTEGER,
    track_io_timing      BOOLEAN,
    source               VARCHAR                 -- redacted DSN / "libpq environment"
);

-- pg_stat_statements normalised to the 1.11 column names, whatever the installed version was; times in
-- milliseconds (_ms); NULL where the server's view lacks a column (see docs/postgres.md).
CREATE TABLE IF NOT EXISTS pg_statements (
    snapshot_id             BIGINT NOT NULL,
    userid                  BIGINT NOT NULL,
    dbid                    BIGINT NOT NULL,
    toplevel                BOOLEAN,
    queryid                 BIGINT,
    plans                   BIGINT,
    total_plan_time_ms      DOUBLE,
    min_plan_time_ms        DOUBLE,
    max_plan_time_ms        DOUBLE,
    mean_plan_time_ms       DOUBLE,
    stddev_plan_time_ms     DOUBLE,
    calls                   BIGINT,
    total_exec_time_ms      DOUBLE,
    min_exec_time_ms        DOUBLE,
    max_exec_time_ms        DOUBLE,
    mean_exec_time_ms       DOUBLE,
    stddev_exec_time_ms     DOUBLE,
    rows                    BIGINT,
    shared_blks_hit         BIGINT,
    shared_blks_read        BIGINT,
    shared_blks_dirtied     BIGINT,
    shared_blks_written     BIGINT,
    local_blks_hit          BIGINT,
    local_blks_read         BIGINT,
    local_blks_dirtied      BIGINT,
    local_blks_written      BIGINT,
    temp_blks_read          BIGINT,
    temp_blks_written       BIGINT,
    shared_blk_read_time_ms  DOUBLE,
    shared_blk_write_time_ms DOUBLE,
    local_blk_read_time_ms   DOUBLE,
    local_blk_write_time_ms  DOUBLE,
    temp_blk_read_time_ms    DOUBLE,
    temp_blk_write_time_ms   DOUBLE,
    wal_records             BIGINT,
    wal_fpi                 BIGINT,
    wal_bytes               HUGEINT,
    jit_functions           BIGINT,
    jit_generation_time_ms  DOUBLE,
    jit_inlining_count      BIGINT,
    jit_inlining_time_ms    DOUBLE,
    jit_optimization_count  BIGINT,
    jit_optimization_time_ms DOUBLE,
    jit_emission_count      BIGINT,
    jit_emission_time_ms    DOUBLE,
    jit_deform_count        BIGINT,
    jit_deform_time_ms      DOUBLE,
    stats_since             TIMESTAMPTZ,
    minmax_stats_since      TIMESTAMPTZ,
    text_visible            BOOLEAN NOT NULL     -- false: '<insufficient privilege>' for this role
);

-- Query texts, once per (server, queryid). Passwords in utility statements are masked before storing.
CREATE TABLE IF NOT EXISTS pg_query_texts (
    system_identifier   VARCHAR NOT NULL,
    queryid             BIGINT NOT NULL,
    query               VARCHAR NOT NULL,
    first_snapshot_id   BIGINT NOT NULL,
    PRIMARY KEY (system_identifier, queryid)
);

CREATE TABLE IF NOT EXISTS pg_databases (
    snapshot_id      BIGINT NOT NULL,
    datid            BIGINT,
    datname          VARCHAR,
    numbackends      INTEGER,
    xact_commit      BIGINT,
    xact_rollback    BIGINT,
    blks_read        BIGINT,
    blks_hit         BIGINT,
    tup_returned     BIGINT,
    tup_fetched      BIGINT,
    tup_inserted     BIGINT,
    tup_updated      BIGINT,
    tup_deleted      BIGINT,
    conflicts        BIGINT,
    temp_files       BIGINT,
    temp_bytes       BIGINT,
    deadlocks        BIGINT,
    blk_read_time_ms DOUBLE,
    blk_write_time_ms DOUBLE,
    stats_reset      TIMESTAMPTZ,
    size_bytes       BIGINT
);

-- pg_stat_user_tables + pg_statio_user_tables + sizes, for the connected database.
CREATE TABLE IF NOT EXISTS pg_tables (
    snapshot_id         BIGINT NOT NULL,
    relid               BIGINT NOT NULL,
    schemaname          VARCHAR,
    relname             VARCHAR,
    seq_scan            BIGINT,
    seq_tup_read        BIGINT,
    idx_scan            BIGINT,
    idx_tup_fetch       BIGINT,
    n_tup_ins           BIGINT,
    n_tup_upd           BIGINT,
    n_tup_del           BIGINT,
    n_tup_hot_upd       BIGINT,
    n_live_tup          BIGINT,
    n_dead_tup          BIGINT,
    n_mod_since_analyze BIGINT,
    n_ins_since_vacuum  BIGINT,
    last_vacuum         TIMESTAMPTZ,
    last_autovacuum     TIMESTAMPTZ,
    last_analyze        TIMESTAMPTZ,
    last_autoanalyze    TIMESTAMPTZ,
    vacuum_count        BIGINT,
    autovacuum_count    BIGINT,
    analyze_count       BIGINT,
    autoanalyze_count   BIGINT,
    heap_blks_read      BIGINT,
    heap_blks_hit       BIGINT,
    idx_blks_read       BIGINT,
    idx_blks_hit        BIGINT,
    toast_blks_read     BIGINT,
    toast_blks_hit      BIGINT,
    table_bytes         BIGINT,     -- pg_table_size (heap + toast + fsm/vm)
    indexes_bytes       BIGINT,     -- pg_indexes_size
    total_bytes         BIGINT,     -- pg_total_relation_size
    reltuples           DOUBLE
);

-- pg_stat_user_indexes + pg_statio_user_indexes + definitions (for unused/duplicate detection).
CREATE TABLE IF NOT EXISTS pg_indexes (
    snapshot_id     BIGINT NOT NULL,
    relid           BIGINT NOT NULL,
    indexrelid      BIGINT NOT NULL,
    schemaname      VARCHAR,
    relname         VARCHAR,
    indexrelname    VARCHAR,
    idx_scan        BIGINT,
    idx_tup_read    BIGINT,
    idx_tup_fetch   BIGINT,
    idx_blks_read   BIGINT,
    idx_blks_hit    BIGINT,
    size_bytes      BIGINT,
    is_unique       BOOLEAN,
    is_primary      BOOLEAN,
    is_valid        BOOLEAN,
    constraint_type VARCHAR,    -- p/u/x when the index backs a constraint
    amname          VARCHAR,
    key_columns     VARCHAR[],  -- pg_get_indexdef(indexrelid, k, true) for each key column
    n_key_columns   INTEGER,
    predicate       VARCHAR,    -- partial-index WHERE clause
    indexdef        VARCHAR
);

-- Estimated bloat (statistical estimate from pg_stats, after the ioguix queries); kind = table | index.
CREATE TABLE IF NOT EXISTS pg_bloat (
    snapshot_id       BIGINT NOT NULL,
    kind              VARCHAR NOT NULL,
    schemaname        VARCHAR,
    relname           VARCHAR,
    indexrelname      VARCHAR,
    real_bytes        BIGINT,
    extra_bytes       BIGINT,
    extra_ratio       DOUBLE,
    fillfactor        INTEGER,
    bloat_bytes       BIGINT,
    bloat_ratio       DOUBLE,
    is_na             BOOLEAN     -- estimate unreliable (no stats, name columns...)
);

-- pg_stat_activity (client backends and others) with blocking pids; query texts masked and truncated.
CREATE TABLE IF NOT EXISTS pg_activity (
    snapshot_id      BIGINT NOT NULL,
    pid              INTEGER,
    datname          VARCHAR,
    usename          VARCHAR,
    application_name VARCHAR,
    client_addr      VARCHAR,
    backend_type     VARCHAR,
    state            VARCHAR,
    wait_event_type  VARCHAR,
    wait_event       VARCHAR,
    xact_age_s       DOUBLE,
    query_age_s      DOUBLE,
    state_age_s      DOUBLE,
    backend_xmin_age BIGINT,
    blocked_by       INTEGER[],
    query            VARCHAR
);

CREATE TABLE IF NOT EXISTS pg_settings (
    snapshot_id BIGINT NOT NULL,
    name        VARCHAR NOT NULL,
    setting     VARCHAR,
    unit        VARCHAR,
    source      VARCHAR
);
