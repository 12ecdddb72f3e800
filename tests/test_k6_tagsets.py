"""The tag-set dictionary: k6_points through k6_tagsets equals parsing every row's tags, for JSON and CSV
ingests and for a store written with the former layout (typed columns per row) and then migrated."""

from __future__ import annotations

import json

import duckdb

from workbench.sources import k6
from workbench.sources.k6_hash import Hasher
from workbench.store import Store, migrations

# The former k6_points, parsing each row's tags (what every reader saw before the dictionary)
_TYPED = ", ".join(f"nullif(t.{k6.quote_ident(tag)}, '') AS {col}" for tag, col in k6.COMMON_TAGS.items())
PER_ROW = f"""
    SELECT run, ingest_id, metric, ts, value, {_TYPED},
           map_from_entries(list_filter(map_entries(CAST(tags AS MAP(VARCHAR, VARCHAR))),
               lambda e: NOT list_contains({list(k6.COMMON_TAGS)}, e.key))) AS extra_tags,
           CAST(tags AS VARCHAR) AS tags, CAST(metadata AS VARCHAR) AS metadata
    FROM (SELECT *, json_transform(tags, '{k6._TAG_STRUCT}') AS t FROM SRC)
"""
VIEW = """SELECT run, ingest_id, metric, ts, value, status, method, name, url, scenario, group_name,
                 expected_response, check_name, proto, error_code, extra_tags, CAST(tags AS VARCHAR),
                 CAST(metadata AS VARCHAR) FROM k6_points"""


def _same(con, a: str, b: str) -> int:
    """Rows of A and B are the same multiset: return their count."""
    n = con.execute(f"SELECT count(*) FROM ({a})").fetchone()[0]
    for x, y in ((a, b), (b, a)):
        assert con.execute(f"SELECT count(*) FROM (({x}) EXCEPT ALL ({y}))").fetchone()[0] == 0
    return n


def test_points_equal_per_row_parsing(k6_run, tmp_db):
    with Store.open(tmp_db) as s:
        k6.ingest_files(s, [k6_run.json], "j")
        k6.ingest_files(s, [k6_run.csv], "c")
        n = _same(s.con, VIEW, PER_ROW.replace("SRC", "k6_rows"))
        assert n == s.con.execute("SELECT count(*) FROM k6_rows").fetchone()[0] > 10_000
        # each distinct tag set parsed once; JSON and CSV share most of them
        sets = s.con.execute("SELECT count(*) FROM k6_tagsets").fetchone()[0]
        assert sets == s.con.execute("SELECT count(DISTINCT tags) FROM k6_rows").fetchone()[0]
        assert 10 < sets < 1000
        # the readers' columns are there: scenarios, groups, checks and an extra tag
        got = s.con.execute("SELECT count(DISTINCT scenario), count(DISTINCT group_name), count(DISTINCT check_name),"
                            " count(*) FILTER (WHERE extra_tags['variant'] = 'optimized') FROM k6_points WHERE run = 'j'"
                            ).fetchone()
        assert got[0] == 2 and got[1] >= 2 and got[2] >= 2 and got[3] > 0
        # a second ingest of new rows with known tag sets adds no set
        assert k6.add_tagsets(s.con) == 0


def test_store_of_the_former_layout_migrates_to_the_same_points(k6_run, tmp_path):
    db = tmp_path / "old.duckdb"
    con = duckdb.connect(str(db))
    con.execute("SET TimeZone = 'UTC'")
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMPTZ)")
    for version, name, sql in migrations():
        if version < 80:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [version, name])
    # rows as the former ingest wrote them: typed columns parsed per row, and odd rows (no tags, only extra tags)
    con.execute("INSERT INTO k6_samples " + k6.json_points_select(k6._sql_str(k6_run.json)), ["old", 1])
    con.execute("INSERT INTO k6_samples (run, ingest_id, metric, ts, value, tags, metadata) VALUES "
                "('old', 1, 'vus', '2024-01-01T00:00:00Z', 3, NULL, NULL), "
                "('old', 1, 'custom', '2024-01-01T00:00:01Z', 1, '{\"kind\":\"x\"}', '{\"vu\":\"2\"}')")
    before = con.execute(f"SELECT * FROM ({VIEW}) ORDER BY ALL").fetchall()
    con.close()
    with Store.open(db) as s:   # applies 080
        assert s.con.execute("SELECT count(*) FROM k6_rows").fetchone()[0] == len(before)
        assert s.con.execute(f"SELECT * FROM ({VIEW}) ORDER BY ALL").fetchall() == before
        assert s.con.execute("SELECT count(*) FROM k6_tagsets").fetchone()[0] > 10
        assert s.con.execute("SELECT data_type FROM information_schema.columns WHERE table_name = 'k6_samples' "
                             "ORDER BY ordinal_position").fetchall()[5:7] == [("VARCHAR",), ("VARCHAR",)]


def test_metric_lines_found_among_many_capital_ms(k6_run, tmp_path, tmp_db):
    """The hashing pass hops between capital Ms; tag values full of them (past its fallback) lose no
    `Metric` line, and one just before a block boundary is found too."""
    lines = k6_run.json.read_bytes().splitlines(keepends=True)
    noisy = [ln.replace(b'"proto":"HTTP/1.1"', b'"proto":"' + b"M" * 40 + b'"') for ln in lines]
    path = tmp_path / "noisy.json"
    path.write_bytes(b"".join(noisy))
    want = {json.loads(ln)["data"]["name"] for ln in lines if json.loads(ln)["type"] == "Metric"}
    with Store.open(tmp_db) as s:
        k6.ingest_files(s, [path], "m")
        got = {r[0] for r in s.con.execute("SELECT metric FROM k6_metrics WHERE type_source = 'json'").fetchall()}
        assert got == want and len(want) > 10
    for chunk in (4096, 65536):   # a Metric line across, or right at, a block boundary
        h = Hasher(path, chunk=chunk)
        h.run()
        assert {d["name"] for d in h.metric_lines} == want
