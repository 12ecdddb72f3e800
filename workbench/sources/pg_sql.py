"""The read-only SQL the PostgreSQL collector runs (catalog and statistics views only).

Every statement carries OWN_MARKER right after its first keyword (PostgreSQL 18 drops leading comments
from pg_stat_statements' texts, not inner ones), so the collector's own statements are recognisable in
pg_stat_statements (the analysis leaves them out of top statements and findings). Statements whose
columns depend on the server version are built by functions taking `server_version_num`.
"""

from __future__ import annotations

OWN_MARKER = "/* workbench collector */"

SERVER = """
SELECT /* workbench collector */ now() AS taken_at, current_setting('server_version') AS server_version,
       current_setting('server_version_num')::int AS server_version_num,
       current_database() AS dbname, current_user AS username,
       pg_postmaster_start_time() AS postmaster_start, pg_is_in_recovery() AS in_recovery,
       current_setting('max_connections')::int AS max_connections,
       current_setting('track_io_timing')::bool AS track_io_timing,
       (SELECT stats_reset FROM pg_stat_database WHERE datname = current_database()) AS db_stats_reset,
       CASE WHEN NOT pg_is_in_recovery()   -- the timeline a primary writes on: its WAL file name's first 8 hex
            THEN ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS timeline_id
"""

SYSTEM_IDENTIFIER = "SELECT /* workbench collector */ system_identifier::text FROM pg_control_system()"

EXTENSION = """
SELECT /* workbench collector */ e.extversion, n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
WHERE e.extname = 'pg_stat_statements'
"""

PRELOADED = "SELECT /* workbench collector */ 'pg_stat_statements' = ANY(string_to_array(replace(current_setting('shared_preload_libraries'), ' ', ''), ','))"

CAN_READ_ALL_STATS = "SELECT /* workbench collector */ pg_has_role(current_user, 'pg_read_all_stats', 'USAGE')"

DATABASES = """
SELECT /* workbench collector */ d.datid, d.datname, d.numbackends, d.xact_commit, d.xact_rollback, d.blks_read, d.blks_hit,
       d.tup_returned, d.tup_fetched, d.tup_inserted, d.tup_updated, d.tup_deleted, d.conflicts,
       d.temp_files, d.temp_bytes, d.deadlocks, d.blk_read_time AS blk_read_time_ms,
       d.blk_write_time AS blk_write_time_ms, d.stats_reset,
       CASE WHEN %(sizes)s AND has_database_privilege(d.datid, 'CONNECT') THEN pg_database_size(d.datid) END
         AS size_bytes,
       age(db.datfrozenxid)::bigint AS xid_age, mxid_age(db.datminmxid)::bigint AS mxid_age
FROM pg_stat_database d JOIN pg_database db ON db.oid = d.datid WHERE d.datname IS NOT NULL
"""

# Relations another session holds (or waits for) in ACCESS EXCLUSIVE mode in this database: size
# functions would queue behind that lock, so the snapshot skips their sizes and names them instead.
# `owner` is the table whose sizes need the relation (the table itself, an index's table, a TOAST
# table's table).
LOCKED = """
SELECT /* workbench collector */ DISTINCT l.relation::bigint AS relid, n.nspname AS schemaname, c.relname, c.relkind::text AS relkind,
       coalesce(i.indrelid, t.oid, l.relation)::bigint AS owner
FROM pg_locks l
JOIN pg_class c ON c.oid = l.relation
JOIN pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_index i ON i.indexrelid = l.relation
LEFT JOIN pg_class t ON t.reltoastrelid = l.relation
WHERE l.locktype = 'relation' AND l.mode = 'AccessExclusiveLock' AND l.pid <> pg_backend_pid()
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""


def tables(server_version_num: int) -> str:
    """pg_stat_user_tables + pg_statio_user_tables + sizes; columns that a version lacks
    (n_ins_since_vacuum before 13) come back NULL. %(skip)s: relids whose sizes are skipped (locked);
    %(sizes)s false: no sizes at all (a fast snapshot)."""
    ins = "t.n_ins_since_vacuum" if server_version_num >= 130000 else "NULL::bigint AS n_ins_since_vacuum"
    return f"""
SELECT /* workbench collector */ t.relid, t.schemaname, t.relname, t.seq_scan, t.seq_tup_read, t.idx_scan, t.idx_tup_fetch,
       t.n_tup_ins, t.n_tup_upd, t.n_tup_del, t.n_tup_hot_upd, t.n_live_tup, t.n_dead_tup,
       t.n_mod_since_analyze, {ins}, t.last_vacuum, t.last_autovacuum, t.last_analyze,
       t.last_autoanalyze, t.vacuum_count, t.autovacuum_count, t.analyze_count, t.autoanalyze_count,
       io.heap_blks_read, io.heap_blks_hit, io.idx_blks_read, io.idx_blks_hit, io.toast_blks_read,
       io.toast_blks_hit,
       CASE WHEN NOT k.skip THEN pg_table_size(t.relid) END AS table_bytes,
       CASE WHEN NOT k.skip THEN pg_indexes_size(t.relid) END AS indexes_bytes,
       CASE WHEN NOT k.skip THEN pg_total_relation_size(t.relid) END AS total_bytes,
       c.reltuples::float8 AS reltuples
FROM pg_stat_user_tables t
JOIN pg_statio_user_tables io USING (relid)
JOIN pg_class c ON c.oid = t.relid
CROSS JOIN LATERAL (SELECT NOT %(sizes)s OR t.relid = ANY(%(skip)s) AS skip) k
"""


# Index statistics and definitions. The definition columns let duplicate detection compare what makes
# two indexes interchangeable: key columns/expressions, operator classes, collations, sort options
# (indoption: DESC, NULLS FIRST), INCLUDE columns and the predicate. The constraint is a join.
# pg_get_indexdef / pg_get_expr / pg_relation_size lock the relation: NULL for skipped (locked) ones, and
# for all in a fast snapshot (%(sizes)s false: definitions and sizes come from the last full one). The
# operator-class and collation arrays need no lock but cost a subquery per index (at 5,000 indexes most of
# a fast snapshot's server time): they are definitions too, so they follow the same rule.
INDEXES = """
SELECT /* workbench collector */ s.relid, s.indexrelid, s.schemaname, s.relname, s.indexrelname, s.idx_scan, s.idx_tup_read,
       s.idx_tup_fetch, io.idx_blks_read, io.idx_blks_hit,
       CASE WHEN NOT k.skip THEN pg_relation_size(s.indexrelid) END AS size_bytes,
       i.indisunique AS is_unique, i.indisprimary AS is_primary, i.indisvalid AS is_valid,
       con.contype::text AS constraint_type,
       am.amname,
       CASE WHEN NOT k.skip THEN
         ARRAY(SELECT pg_get_indexdef(s.indexrelid, n, true) FROM generate_series(1, i.indnkeyatts) AS n
               ORDER BY n) END AS key_columns,
       i.indnkeyatts::int AS n_key_columns,
       CASE WHEN NOT k.skip THEN pg_get_expr(i.indpred, i.indrelid, true) END AS predicate,
       CASE WHEN NOT k.skip THEN pg_get_indexdef(s.indexrelid) END AS indexdef,
       CASE WHEN NOT k.skip THEN
         ARRAY(SELECT coalesce(opc.opcname, '') FROM unnest(i.indclass::oid[]) WITH ORDINALITY AS u(oid, n)
               LEFT JOIN pg_opclass opc ON opc.oid = u.oid ORDER BY u.n) END AS opclasses,
       CASE WHEN NOT k.skip THEN
         ARRAY(SELECT coalesce(col.collname, '') FROM unnest(i.indcollation::oid[]) WITH ORDINALITY AS u(oid, n)
               LEFT JOIN pg_collation col ON col.oid = u.oid ORDER BY u.n) END AS collations,
       CASE WHEN NOT k.skip THEN i.indoption::int2[]::int[] END AS key_options,
       CASE WHEN NOT k.skip THEN
         ARRAY(SELECT pg_get_indexdef(s.indexrelid, n, true) FROM generate_series(i.indnkeyatts + 1, i.indnatts) AS n
               ORDER BY n) END AS include_columns
FROM pg_stat_user_indexes s
JOIN pg_statio_user_indexes io USING (indexrelid)
JOIN pg_index i ON i.indexrelid = s.indexrelid
JOIN pg_class ci ON ci.oid = s.indexrelid
JOIN pg_am am ON am.oid = ci.relam
LEFT JOIN pg_constraint con ON con.conindid = s.indexrelid AND con.conrelid = s.relid
                           AND con.contype IN ('p', 'u', 'x')
CROSS JOIN LATERAL (SELECT NOT %(sizes)s OR s.relid = ANY(%(skip)s) OR s.indexrelid = ANY(%(skip)s) AS skip) k
"""

# pg_blocking_pids() only for sessions waiting on a heavyweight lock (it is not free: it takes the
# lock manager's partition locks); the analysis walks blocked_by to the root blocker.
ACTIVITY = """
SELECT /* workbench collector */ a.pid, a.datname, a.usename, a.application_name, host(a.client_addr) AS client_addr, a.backend_type,
       a.state, a.wait_event_type, a.wait_event,
       extract(epoch FROM now() - a.xact_start)::float8 AS xact_age_s,
       extract(epoch FROM now() - a.query_start)::float8 AS query_age_s,
       extract(epoch FROM now() - a.state_change)::float8 AS state_age_s,
       age(a.backend_xmin)::bigint AS backend_xmin_age,
       CASE WHEN a.wait_event_type = 'Lock' THEN pg_blocking_pids(a.pid) END AS blocked_by,
       left(a.query, 2000) AS query
FROM pg_stat_activity a
WHERE a.pid <> pg_backend_pid()
"""

# Sequences with the type of the column that owns them (an int4 column on a bigint sequence overflows
# at 2^31 - 1); last_value is NULL without USAGE/SELECT on the sequence or before its first nextval().
SEQUENCES = """
SELECT /* workbench collector */ s.schemaname, s.sequencename, s.data_type::text AS data_type, s.last_value, s.min_value, s.max_value,
       s.increment_by, s.cycle, tc.relname AS owner_table, a.attname AS owner_column,
       format_type(a.atttypid, NULL) AS owner_type
FROM pg_sequences s
JOIN pg_namespace sn ON sn.nspname = s.schemaname
JOIN pg_class sc ON sc.relnamespace = sn.oid AND sc.relname = s.sequencename
LEFT JOIN pg_depend d ON d.objid = sc.oid AND d.classid = 'pg_class'::regclass
                     AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
LEFT JOIN pg_class tc ON tc.oid = d.refobjid
LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
WHERE NOT sc.oid = ANY(%(skip)s)
"""

COLUMN_STATS = """
SELECT /* workbench collector */ schemaname, tablename AS relname, attname, null_frac::float8 AS null_frac, avg_width,
       n_distinct::float8 AS n_distinct, correlation::float8 AS correlation
FROM pg_stats
WHERE schemaname NOT IN ('pg_catalog', 'information_schema') AND schemaname !~ '^pg_toast' AND NOT inherited
"""

SETTINGS_NAMES = (
    "shared_buffers", "work_mem", "maintenance_work_mem", "effective_cache_size", "max_connections",
    "random_page_cost", "seq_page_cost", "track_io_timing", "track_activity_query_size",
    "pg_stat_statements.max", "pg_stat_statements.track", "pg_stat_statements.track_utility",
    "shared_preload_libraries", "autovacuum", "autovacuum_vacuum_scale_factor",
    "autovacuum_analyze_scale_factor", "default_statistics_target", "checkpoint_timeout", "max_wal_size",
    "jit", "statement_timeout", "idle_in_transaction_session_timeout", "max_parallel_workers_per_gather",
    "autovacuum_freeze_max_age", "autovacuum_multixact_freeze_max_age", "pg_stat_statements.save",
)
SETTINGS = "SELECT /* workbench collector */ name, setting, unit, source FROM pg_settings WHERE name = ANY(%s)"

PGSS_INFO = "SELECT /* workbench collector */ dealloc, stats_reset FROM {schema}.pg_stat_statements_info"

# Counters without texts (showtext := false: the server does not read its query-text file for every
# row); texts are then fetched only for the queryids the store has not seen (PGSS_TEXTS).
PGSS = "SELECT /* workbench collector */ * FROM {schema}.pg_stat_statements(showtext := false)"
PGSS_TEXTS = ("SELECT /* workbench collector */ DISTINCT ON (queryid) queryid, query FROM {schema}.pg_stat_statements"
              " WHERE queryid = ANY(%s)")

# Table bloat estimate: the statistical approach of ioguix/pgsql-bloat-estimation (table_bloat.sql):
# expected pages from reltuples and average row width from pg_stats (null fractions, alignment) vs
# actual pages. An estimate only; is_na marks tables without usable statistics.
TABLE_BLOAT = """
SELECT /* workbench collector */ schemaname, tblname AS relname, NULL::text AS indexrelname,
       (bs * tblpages)::bigint AS real_bytes,
       ((tblpages - est_tblpages) * bs)::bigint AS extra_bytes,
       CASE WHEN tblpages > 0 AND tblpages - est_tblpages > 0
            THEN (tblpages - est_tblpages) / tblpages::float8 ELSE 0 END AS extra_ratio,
       fillfactor::int AS fillfactor,
       CASE WHEN tblpages - est_tblpages_ff > 0 THEN ((tblpages - est_tblpages_ff) * bs)::bigint
            ELSE 0 END AS bloat_bytes,
       CASE WHEN tblpages > 0 AND tblpages - est_tblpages_ff > 0
            THEN (tblpages - est_tblpages_ff) / tblpages::float8 ELSE 0 END AS bloat_ratio,
       is_na
FROM (
  SELECT ceil(reltuples / ((bs - page_hdr) / tpl_size)) + ceil(toasttuples / 4) AS est_tblpages,
         ceil(reltuples / ((bs - page_hdr) * fillfactor / (tpl_size * 100))) + ceil(toasttuples / 4)
           AS est_tblpages_ff,
         tblpages, fillfactor, bs, schemaname, tblname, is_na
  FROM (
    SELECT (4 + tpl_hdr_size + tpl_data_size + (2 * ma)
            - CASE WHEN tpl_hdr_size % ma = 0 THEN ma ELSE tpl_hdr_size % ma END
            - CASE WHEN ceil(tpl_data_size)::int % ma = 0 THEN ma ELSE ceil(tpl_data_size)::int % ma END
           ) AS tpl_size,
           (heappages + toastpages) AS tblpages, reltuples, toasttuples, bs, page_hdr, schemaname,
           tblname, fillfactor, is_na
    FROM (
      SELECT ns.nspname AS schemaname, tbl.relname AS tblname, tbl.reltuples,
             tbl.relpages AS heappages, coalesce(toast.relpages, 0) AS toastpages,
             coalesce(toast.reltuples, 0) AS toasttuples,
             coalesce(substring(array_to_string(tbl.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::smallint,
                      100) AS fillfactor,
             current_setting('block_size')::numeric AS bs,
             8 AS ma,
             24 AS page_hdr,
             23 + CASE WHEN max(coalesce(s.null_frac, 0)) > 0 THEN (7 + count(s.attname)) / 8 ELSE 0::int END
               AS tpl_hdr_size,
             sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 0)) AS tpl_data_size,
             bool_or(att.atttypid = 'pg_catalog.name'::regtype)
               OR sum(CASE WHEN att.attnum > 0 THEN 1 ELSE 0 END) <> count(s.attname)
               OR tbl.reltuples < 0 AS is_na
      FROM pg_attribute att
      JOIN pg_class tbl ON att.attrelid = tbl.oid
      JOIN pg_namespace ns ON ns.oid = tbl.relnamespace
      LEFT JOIN pg_stats s ON s.schemaname = ns.nspname AND s.tablename = tbl.relname
                          AND s.inherited = false AND s.attname = att.attname
      LEFT JOIN pg_class toast ON tbl.reltoastrelid = toast.oid
      WHERE NOT att.attisdropped AND att.attnum > 0 AND tbl.relkind IN ('r', 'm')
        AND ns.nspname NOT IN ('pg_catalog', 'information_schema') AND ns.nspname !~ '^pg_toast'
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10
    ) s
  ) s2
) s3
"""

# Btree index bloat estimate (after ioguix btree_bloat.sql): expected leaf pages from reltuples and the
# average key width (pg_stats of the table's columns, or of the index for expressions) vs relpages.
INDEX_BLOAT = """
SELECT /* workbench collector */ nspname AS schemaname, tblname AS relname, idxname AS indexrelname,
       (bs * relpages)::bigint AS real_bytes,
       (bs * (relpages - est_pages))::bigint AS extra_bytes,
       CASE WHEN relpages > 0 THEN (relpages - est_pages)::float8 / relpages END AS extra_ratio,
       fillfactor::int AS fillfactor,
       CASE WHEN relpages > est_pages_ff THEN (bs * (relpages - est_pages_ff))::bigint ELSE 0 END AS bloat_bytes,
       CASE WHEN relpages > est_pages_ff THEN (relpages - est_pages_ff)::float8 / relpages ELSE 0 END
         AS bloat_ratio,
       is_na
FROM (
  SELECT coalesce(1 + ceil(reltuples / floor((bs - pageopqdata - pagehdr) / (4 + nulldatahdrwidth)::float)), 0)
           AS est_pages,
         coalesce(1 + ceil(reltuples / floor((bs - pageopqdata - pagehdr) * fillfactor
                                             / (100 * (4 + nulldatahdrwidth)::float))), 0) AS est_pages_ff,
         bs, nspname, tblname, idxname, relpages, fillfactor, is_na
  FROM (
    SELECT maxalign, bs, nspname, tblname, idxname, reltuples, relpages, fillfactor,
           (index_tuple_hdr_bm + maxalign
              - CASE WHEN index_tuple_hdr_bm % maxalign = 0 THEN maxalign ELSE index_tuple_hdr_bm % maxalign END
              + nulldatawidth + maxalign
              - CASE WHEN nulldatawidth = 0 THEN 0
                     WHEN nulldatawidth::integer % maxalign = 0 THEN maxalign
                     ELSE nulldatawidth::integer % maxalign END
           )::numeric AS nulldatahdrwidth,
           pagehdr, pageopqdata, is_na
    FROM (
      SELECT n.nspname, i.tblname, i.idxname, i.reltuples, i.relpages, i.idxoid, i.fillfactor,
             current_setting('block_size')::numeric AS bs, 8 AS maxalign, 24 AS pagehdr, 16 AS pageopqdata,
             CASE WHEN max(coalesce(s.null_frac, 0)) = 0 THEN 8 ELSE 8 + ((32 + 8 - 1) / 8) END
               AS index_tuple_hdr_bm,
             sum((1 - coalesce(s.null_frac, 0)) * coalesce(s.avg_width, 1024)) AS nulldatawidth,
             max(CASE WHEN i.atttypid = 'pg_catalog.name'::regtype THEN 1 ELSE 0 END) > 0
               OR bool_or(s.attname IS NULL) OR min(i.reltuples) < 0 AS is_na
      FROM (
        SELECT ct.relname AS tblname, ct.relnamespace, ic.idxname, ic.reltuples, ic.relpages, ic.tbloid,
               ic.idxoid, ic.fillfactor,
               coalesce(a1.attnum, a2.attnum) AS attnum, coalesce(a1.attname, a2.attname) AS attname,
               coalesce(a1.atttypid, a2.atttypid) AS atttypid,
               CASE WHEN a1.attnum IS NULL THEN ic.idxname ELSE ct.relname END AS attrelname
        FROM (
          SELECT idxname, reltuples, relpages, tbloid, idxoid, fillfactor, indkey,
                 generate_series(1, indnatts) AS attpos
          FROM (
            SELECT ci.relname AS idxname, ci.reltuples, ci.relpages, i.indrelid AS tbloid,
                   i.indexrelid AS idxoid,
                   coalesce(substring(array_to_string(ci.reloptions, ' ') FROM 'fillfactor=([0-9]+)')::smallint,
                            90) AS fillfactor,
                   i.indnatts,
                   string_to_array(textin(int2vectorout(i.indkey)), ' ')::int[] AS indkey
            FROM pg_index i
            JOIN pg_class ci ON ci.oid = i.indexrelid
            JOIN pg_namespace cn ON cn.oid = ci.relnamespace
            WHERE ci.relam = (SELECT oid FROM pg_am WHERE amname = 'btree') AND ci.relpages > 0
              AND cn.nspname NOT IN ('pg_catalog', 'information_schema') AND cn.nspname !~ '^pg_toast'
          ) idx_data
        ) ic
        JOIN pg_class ct ON ct.oid = ic.tbloid
        LEFT JOIN pg_attribute a1 ON ic.indkey[ic.attpos] <> 0 AND a1.attrelid = ic.tbloid
                                 AND a1.attnum = ic.indkey[ic.attpos]
        LEFT JOIN pg_attribute a2 ON ic.indkey[ic.attpos] = 0 AND a2.attrelid = ic.idxoid
                                 AND a2.attnum = ic.attpos
      ) i
      JOIN pg_namespace n ON n.oid = i.relnamespace
      LEFT JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = i.attrelname AND s.attname = i.attname
      GROUP BY 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11
    ) rows_data_stats
  ) rows_hdr_pdg_stats
) relation_stats
"""
