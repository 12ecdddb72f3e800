"""The default alert rules (the playbook's three, corrected) against the lab Prometheus and Debian's
real exporters. (In its own test_prometheus_* file on purpose: the session's `prom_server` starts
postgres_exporter, whose queries would show up in pg_stat_statements if it started before the
PostgreSQL collector tests, which require other roles' statements to stay unchanged.)"""

from __future__ import annotations

import json
import time

import pytest

from workbench.cli import main as cli_main

pytestmark = pytest.mark.service


def test_default_rules_read_real_exporter_metrics(prom_server, capsys):
    """The corrected playbook rules name metrics that Debian's exporters and the lab app really export:
    each rule's left-hand side returns series on the lab Prometheus, and the backtest runs clean."""
    from workbench.analysis.alerts import load_rules

    for rule in load_rules().rules:
        lhs = rule.expr.rsplit(">" if ">" in rule.expr else "<", 1)[0]
        doc = prom_server.instant(lhs)
        assert doc["status"] == "success" and doc["data"]["result"], f"{rule.alert}: {lhs} returned nothing"
    end = int(time.time())
    capsys.readouterr()
    with pytest.raises(SystemExit) as e:
        cli_main(["alerts", "--url", prom_server.url, "--start", str(end - 30), "--end", str(end),
                  "--interval", "5s", "--no-store", "--format", "json"])
    out, err = capsys.readouterr()
    assert e.value.code == 0, err
    doc = json.loads(out)
    assert [r["alert"] for r in doc["rules"]] == ["HighResponseTime", "DatabaseSlowQueries", "CacheHitRateLow"]
    assert all(r["evaluations"] == 7 and r["source"] == "promql" for r in doc["rules"]) and not doc["notes"]
