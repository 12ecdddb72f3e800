"""`workbench export parquet s3://...` against a local S3-compatible server (moto's server mode on a free
loopback port, started and stopped here): the same files as a directory export, credentials from the AWS
environment never printed or stored, nothing written outside the server."""

from __future__ import annotations

import io
import json
import tempfile

import pyarrow.parquet as pq
import pytest

from workbench.cli import main as wb_main
from workbench.store import Store

SECRET = "planted-s3-secret-Zq7"


@pytest.fixture
def s3(monkeypatch, tmp_path):
    """A moto S3 server on 127.0.0.1:<free port>, with the AWS environment pointing at it."""
    import boto3
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    for k, v in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": SECRET, "AWS_DEFAULT_REGION": "us-east-1",
                 "AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_CONFIG_FILE": str(tmp_path / "no-config"),
                 "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "no-credentials")}.items():
        monkeypatch.setenv(k, v)
    client = boto3.client("s3", endpoint_url=f"http://{host}:{port}")
    client.create_bucket(Bucket="perf")
    yield client
    server.stop()


def _keys(client, prefix: str) -> dict[str, int]:
    out = {}
    for page in client.get_paginator("list_objects_v2").paginate(Bucket="perf", Prefix=prefix):
        out.update({o["Key"][len(prefix):]: o["Size"] for o in page.get("Contents", [])
                    if not o["Key"].endswith("/")})   # not the directory markers pyarrow leaves
    return out


def test_export_to_s3(s3, samples_store, samples_dataset, tmp_path, monkeypatch, capsys):
    staging = tmp_path / "tmp"
    staging.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(staging))
    args = ["--db", str(samples_store), "export", "parquet", "s3://perf/fleet/", "--format", "json"]
    with pytest.raises(SystemExit) as e:
        wb_main(args)
    out = capsys.readouterr()
    assert e.value.code == 0, out.err
    result = json.loads(out.out)
    with Store.open(samples_store, read_only=True) as store:
        points = store.con.execute("SELECT count(*) FROM k6_samples").fetchone()[0]
    assert result["units_written"] > 20 and result["rows"]["k6_samples"] == points > 20_000
    keys = _keys(s3, "fleet/")
    local = {str(p.relative_to(samples_dataset)) for p in samples_dataset.rglob("*") if p.is_file()}
    # the same layout and file names as the directory export (names derive from the units' keys)
    assert {k for k in keys if not k.startswith("_manifest/")} == {k for k in local if not k.startswith("_manifest/")}
    assert sum(1 for k in keys if k.startswith("_manifest/")) == result["units_written"]
    name = next(k for k in keys if k.startswith("k6_samples/run=lab-post/metric=http_req_duration/"))
    remote = pq.read_table(io.BytesIO(s3.get_object(Bucket="perf", Key="fleet/" + name)["Body"].read()))
    assert remote.num_rows == pq.read_table(samples_dataset / name).num_rows > 1000
    # incremental: nothing new, nothing written
    with pytest.raises(SystemExit) as e:
        wb_main(args)
    again = json.loads(capsys.readouterr().out)
    assert e.value.code == 0 and again["units_written"] == 0 and again["units_skipped"] == result["units_written"]
    assert _keys(s3, "fleet/") == keys
    # no secret in what was printed or uploaded, no local staging left behind
    everything = out.out + out.err + "".join(
        s3.get_object(Bucket="perf", Key="fleet/" + k)["Body"].read().decode() for k in keys if k.endswith(".json"))
    assert SECRET not in everything
    assert list(staging.iterdir()) == []


def test_unreachable_bucket_is_one_line(s3, samples_store, capsys):
    with pytest.raises(SystemExit) as e:
        wb_main(["--db", str(samples_store), "export", "parquet", "s3://no-such-bucket/x", "--run", "lab-post"])
    err = capsys.readouterr().err
    assert e.value.code == 2 and err.count("\n") == 1 and SECRET not in err
