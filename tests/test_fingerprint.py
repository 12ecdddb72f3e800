"""k6 points files are fingerprinted with BLAKE3 (what `b3sum` prints); files a store or dataset holds
under their sha256 from before are still recognised, so a re-ingest never doubles a run."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import blake3

from workbench.dataset import MANIFEST_DIR, manifest, unit_hash
from workbench.provenance import collect
from workbench.sources import k6
from workbench.sources.k6_stream import stream_files
from workbench.store import Store

SAMPLE = Path(__file__).resolve().parent.parent / "data" / "samples" / "k6" / "lab-post.json.gz"


def test_a_points_file_is_known_by_its_blake3_and_a_sha256_from_before_still_counts(tmp_db):
    data = SAMPLE.read_bytes()
    with Store.open(tmp_db) as s:
        k6.ingest_files(s, [SAMPLE], "r")
        row = s.con.execute("SELECT blake3, sha256 FROM ingests WHERE kind = 'k6-json'").fetchone()
        assert row == (blake3.blake3(data).hexdigest(), None)
        assert k6.ingest_files(s, [SAMPLE], "r")[0].skipped
        # the same ingest as a store from before BLAKE3 recorded it
        s.con.execute("UPDATE ingests SET blake3 = NULL, sha256 = ? WHERE kind = 'k6-json'",
                      [hashlib.sha256(data).hexdigest()])
        again = k6.ingest_files(s, [SAMPLE], "r")[0]
        assert again.skipped and "already ingested" in again.warnings[0]
        assert s.con.execute("SELECT count(*) FROM ingests WHERE kind = 'k6-json'").fetchone()[0] == 1
    shown = [i["fingerprint"] for i in collect(tmp_db).ingests]
    assert shown == ["sha256 " + hashlib.sha256(data).hexdigest()]


def test_a_stream_skips_a_file_the_dataset_holds_under_its_sha256(tmp_path):
    dest = tmp_path / "ds"
    assert stream_files([SAMPLE], "r", str(dest))[0].rows > 1000
    [entry] = [e for e in manifest(str(dest)).values() if e["key"].startswith("k6:r:blake3:")]
    assert entry["key"] == "k6:r:blake3:" + blake3.blake3(SAMPLE.read_bytes()).hexdigest()
    # rewrite the manifest as a dataset streamed before BLAKE3 had it
    (dest / MANIFEST_DIR / f"{entry['hash']}.json").unlink()
    key = "k6:r:" + hashlib.sha256(SAMPLE.read_bytes()).hexdigest()
    (dest / MANIFEST_DIR / f"{unit_hash(key)}.json").write_text(json.dumps(dict(entry, key=key, hash=unit_hash(key))))
    files = sorted(p.name for p in dest.rglob("*.parquet"))
    again = stream_files([SAMPLE], "r", str(dest))[0]
    assert again.skipped and sorted(p.name for p in dest.rglob("*.parquet")) == files


def test_the_pass_finds_every_metric_line_whatever_else_the_lines_hold(tmp_path):
    """Metric lines across block boundaries, and Point lines full of other M's (the one-byte search's
    worst case, where the substring search takes over), give the same definitions as json.loads."""
    from workbench.sources.k6_pass import FilePass

    point = b'{"metric":"m%d","type":"Point","data":{"time":"2026-01-01T00:00:00Z","value":1,"tags":{"url":"/Members/M"}}}\n'
    lines = []
    for i in range(300):
        if i % 37 == 0:
            lines.append(json.dumps({"type": "Metric", "data": {"name": f"m{i}", "type": "trend", "contains": "time",
                                                                 "thresholds": [], "submetrics": None},
                                     "metric": f"m{i}"}).encode() + b"\n")
        lines.append(point % i)
    path = tmp_path / "k6.json"
    path.write_bytes(b"".join(lines))
    want = [json.loads(x)["data"] for x in lines if b'"Metric"' in x]
    for chunk in (64, 1000, 1 << 22):   # lines cut anywhere by the blocks
        p = FilePass(path, chunk=chunk)
        p.start()
        assert p.result() == blake3.blake3(path.read_bytes()).hexdigest()
        assert p.metric_lines == want and len(want) == 9
