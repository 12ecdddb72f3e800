"""Basic auth and TLS against a real Prometheus 2.42 started with a --web.config.file (https with a
throwaway CA made by openssl, one basic-auth user). Credentials reach the client only through the
environment and never the store."""

from __future__ import annotations

import time
import warnings

import pytest

from workbench.cli import main as cli_main
from workbench.errors import WorkbenchError
from workbench.lab.prometheus import start_prometheus
from workbench.lab.redis import make_test_certs
from workbench.sources.prometheus import PromClient
from workbench.store import Store

pytestmark = pytest.mark.service
PASSWORD = "pw-prom-7c1e9a"


def _bcrypt(password: str) -> str:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt  # Python 3.11's libxcrypt binding: bcrypt ($2b$) is what Prometheus's web config takes

        return crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=1 << 4))


@pytest.fixture(scope="module")
def secure_prom(tmp_path_factory):
    work = tmp_path_factory.mktemp("prom-tls")
    ca, cert, key = make_test_certs(work / "tls")
    web = (f"tls_server_config:\n  cert_file: {cert}\n  key_file: {key}\n"
           f"basic_auth_users:\n  alice: '{_bcrypt(PASSWORD)}'\n")
    server = start_prometheus(work / "prom", {}, web_config=web)
    yield server, ca
    server.stop()


AUTH = {"PROMETHEUS_USER": "alice", "PROMETHEUS_PASSWORD": PASSWORD}


def test_basic_auth_and_ca_file(secure_prom):
    server, ca = secure_prom
    assert server.url.startswith("https://")
    now = int(time.time() * 1000)
    with PromClient(server.url, ca_file=str(ca), env=AUTH) as client:
        result = client.query_range("vector(3)", now - 4000, now, 1000)
    assert result.points == 5 and {v for s in result.series for v in s.values} == {3.0}
    with PromClient(server.url, insecure=True, env=AUTH) as client:
        assert client.query("vector(1)").series


def test_missing_or_wrong_credentials(secure_prom):
    server, ca = secure_prom
    for env in ({}, {"PROMETHEUS_USER": "alice", "PROMETHEUS_PASSWORD": "wrong-pass"}):
        with PromClient(server.url, ca_file=str(ca), env=env) as client, pytest.raises(WorkbenchError) as e:
            client.query("vector(1)")
        msg = str(e.value)
        assert "HTTP 401" in msg and "PROMETHEUS_USER" in msg and "wrong-pass" not in msg


def test_untrusted_certificate_is_one_line(secure_prom):
    server, _ = secure_prom
    with PromClient(server.url, env=AUTH, retries=0) as client, pytest.raises(WorkbenchError) as e:
        client.query("vector(1)")
    msg = str(e.value)
    assert "\n" not in msg and "CERTIFICATE_VERIFY_FAILED" in msg and "--ca-file" in msg


def test_cli_takes_credentials_from_env_only(secure_prom, tmp_db, capsys, monkeypatch):
    server, ca = secure_prom
    monkeypatch.setenv("PROMETHEUS_USER", "alice")
    monkeypatch.setenv("PROMETHEUS_PASSWORD", PASSWORD)
    with pytest.raises(SystemExit) as e:
        cli_main(["--db", str(tmp_db), "collect", "prometheus", "--url", server.url, "--ca-file", str(ca),
                  "--query", "vector(1)", "--start", "now-10s", "--step", "1s", "--name", "tls"])
    _, err = capsys.readouterr()
    assert e.value.code == 0, err
    with Store.open(tmp_db, read_only=True) as store:
        cols = store.con.execute(
            "SELECT table_name, column_name FROM information_schema.columns"
            " WHERE table_name IN ('ingests', 'prom_series_sets', 'prom_series')").fetchall()
        for table, col in cols:
            n = store.con.execute(f'SELECT count(*) FROM {table} WHERE "{col}"::VARCHAR LIKE ?',
                                  [f"%{PASSWORD}%"]).fetchone()[0]
            assert n == 0, (table, col)
        assert store.con.execute("SELECT url FROM prom_series_sets").fetchone()[0] == server.url
