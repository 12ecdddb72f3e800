"""The tag-set dictionary (issue 15, item 5): points keep the tags text k6 wrote, each distinct tag set is
parsed once into k6_tagsets, and the k6_samples view gives every reader the same typed columns as the
per-row parse did. Stores from before keep their rows where they are."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb

from workbench import dataset
from workbench.sources import k6
from workbench.store import Store

SAMPLES = Path(__file__).resolve().parent.parent / "data" / "samples" / "k6"
WIDE = ("run, ingest_id, metric, ts, value, status, method, name, url, scenario, group_name, expected_response, "
        "check_name, proto, error_code, CAST(tags AS VARCHAR) AS tags, CAST(metadata AS VARCHAR) AS metadata")


def _per_row_parse(con: duckdb.DuckDBPyConnection, path: Path, run: str, ingest_id: int) -> str:
    """The file's points as the per-row parse (the streamed Parquet's SELECT) types them, as a temp table."""
    con.execute(f"CREATE OR REPLACE TEMP TABLE per_row AS {k6.json_points_select(k6._sql_str(path))}",
                [run, ingest_id])
    return "per_row"


def test_each_tag_set_is_parsed_once_and_readers_see_the_per_row_columns(tmp_db, tmp_path):
    plain = tmp_path / "lab-pre.json"
    plain.write_bytes(gzip.decompress((SAMPLES / "lab-pre.json.gz").read_bytes()))
    with Store.open(tmp_db) as s:
        k6.ingest_files(s, [plain], "pre")
        k6.ingest_files(s, [SAMPLES / "lab-post.json.gz"], "post")   # shares most tag sets with pre
        con = s.con
        distinct = con.execute("SELECT count(DISTINCT tags) FROM k6_sample_rows").fetchone()[0]
        entries, unique = con.execute("SELECT count(*), count(DISTINCT tags) FROM k6_tagsets").fetchone()
        assert entries == unique == distinct > 5     # one entry per tag set, none twice
        rows = con.execute("SELECT count(*) FROM k6_sample_rows").fetchone()[0]
        assert rows > 100 * entries                  # why it pays: far fewer tag sets than points
        iid = con.execute("SELECT ingest_id FROM ingests WHERE run = 'pre'").fetchone()[0]
        ref = _per_row_parse(con, plain, "pre", iid)
        mine = f"SELECT {WIDE} FROM k6_samples WHERE run = 'pre'"
        theirs = f"SELECT {WIDE} FROM {ref}"
        assert con.execute(f"SELECT count(*) FROM ({mine} EXCEPT ALL {theirs})").fetchone()[0] == 0
        assert con.execute(f"SELECT count(*) FROM ({theirs} EXCEPT ALL {mine})").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM k6_samples WHERE run = 'pre' AND name IS NOT NULL"
                           ).fetchone()[0] > 1000


def test_a_store_from_before_keeps_its_rows_and_exports_them_alongside_new_ones(tmp_db, tmp_path, store_before):
    con = store_before(100)
    # a point as the per-row parse stored it before the dictionary (typed columns in the table)
    con.execute("INSERT INTO ingests (kind, source, run, started_at, finished_at, workbench_version) "
                "VALUES ('k6-json', 'old.json', 'old', now(), now(), 'old')")
    con.execute("INSERT INTO k6_runs VALUES ('old', NULL, MAP(), now())")
    con.execute("INSERT INTO k6_samples (run, ingest_id, metric, ts, value, status, name, tags) VALUES "
                "('old', 1, 'http_req_duration', TIMESTAMPTZ '2026-01-01', 12.5, '200', 'GET /old', "
                "'{\"name\":\"GET /old\",\"status\":\"200\"}')")
    con.close()
    with Store.open(tmp_db) as s:
        assert s.con.execute("SELECT count(*) FROM k6_samples_v1").fetchone()[0] == 1   # not rewritten
        k6.ingest_files(s, [SAMPLES / "lab-post.json.gz"], "new")
        old = s.con.execute("SELECT endpoint, status, value FROM k6_points WHERE run = 'old'").fetchall()
        assert old == [("GET /old", "200", 12.5)]
        new = s.con.execute("SELECT count(*) FROM k6_points WHERE run = 'new' AND endpoint <> '(unnamed)'"
                            ).fetchone()[0]
        assert new > 1000
        total = s.con.execute("SELECT count(*) FROM k6_samples").fetchone()[0]
        result = dataset.export_parquet(s, str(tmp_path / "ds"))
        assert result.rows["k6_samples"] == total
        assert not any(t in result.rows for t in dataset.STORE_ONLY)   # the layout has k6_samples only
    parquet = f"read_parquet('{tmp_path}/ds/k6_samples/**/*.parquet', hive_partitioning = true)"
    got = duckdb.sql(f"SELECT run, count(*), count(name) FROM {parquet} GROUP BY run ORDER BY run").fetchall()
    assert got[1] == ("old", 1, 1) and got[0][0] == "new" and got[0][2] > 1000   # typed columns in the file
    # a re-export writes nothing new
    with Store.open(tmp_db) as s:
        assert dataset.export_parquet(s, str(tmp_path / "ds")).units_written == 0
