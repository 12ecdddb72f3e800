"""workbench.roi and `workbench roi`: the hand-checked case, Monte Carlo, from_compare on the bundled runs,
bad configs, and notebooks/70_roi."""

from __future__ import annotations

import json
import math
from pathlib import Path

import nbformat
import numpy as np
import numpy_financial as npf
import papermill as pm
import pytest
from cli_runner import run_isolated

from workbench import roi
from workbench.sources import prometheus as prom
from workbench.sources.k6 import load_samples
from workbench.store import Store

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "data" / "samples"
NB70 = ROOT / "notebooks" / "70_roi.ipynb"

HAND = {"horizon_months": 12, "discount_rate_annual": 0.10, "one_time_cost": 20000,
        "infrastructure_monthly_before": 10000, "infrastructure_monthly_after": 8000,
        "monthly_revenue": 500000, "revenue_uplift_per_100ms": 0.01, "p95_before_ms": 800, "p95_after_ms": 600}
HEADLINE = {"monthly_benefit", "npv", "payback_months", "roi_pct", "irr_annual"}
SPREAD = {"npv_p10", "npv_p50", "npv_p90", "prob_npv_positive", "tornado"}


def run_cli(*args: str, db: Path | None = None) -> tuple[int, str, str]:
    """The real entry point (exit codes and one-line errors as users see them)."""
    return run_isolated(*(["--db", str(db)] if db else []), *args)


def write_yaml(path: Path, cfg: dict) -> Path:
    import yaml

    path.write_text(yaml.safe_dump(cfg))
    return path


# -- the arithmetic ------------------------------------------------------------------------------------
def test_hand_checked_case_agrees_with_numpy_financial() -> None:
    res = roi.run(HAND)
    r = 1.1 ** (1 / 12) - 1
    expected_npv = -20000 + 12000 * (1 - (1 + r) ** -12) / r
    assert res.point["monthly_benefit"] == pytest.approx(12000)
    assert res.point["infrastructure_saving"] == pytest.approx(2000)
    assert res.point["revenue_effect"] == pytest.approx(10000)
    assert res.point["payback_months"] == pytest.approx(20000 / 12000)
    assert round(res.point["payback_months"], 3) == 1.667
    assert res.point["npv"] == pytest.approx(expected_npv, rel=1e-12)
    assert round(res.point["npv"]) == 116806
    flows = [-20000.0] + [12000.0] * 12
    assert res.point["npv"] == pytest.approx(npf.npv(r, flows), rel=1e-12)
    assert res.point["irr_annual"] == pytest.approx((1 + npf.irr(flows)) ** 12 - 1, rel=1e-9)
    assert res.point["roi_pct"] == pytest.approx((12000 * 12 - 20000) / 20000 * 100)
    assert res.cash_flows["cash_flow"].tolist() == flows
    assert res.cash_flows["discounted_cumulative"].iloc[-1] == pytest.approx(expected_npv)
    assert res.draws is None   # all inputs fixed: no spread to report


def test_irr_and_npv_agree_with_numpy_financial_when_it_does_not_pay_back() -> None:
    cfg = {**HAND, "one_time_cost": 200000, "discount_rate_annual": 0.0}
    res = roi.run(cfg)
    flows = [-200000.0] + [12000.0] * 12
    assert res.point["npv"] == pytest.approx(sum(flows))      # zero rate: plain sum
    assert res.point["irr_annual"] < 0
    assert res.point["irr_annual"] == pytest.approx((1 + npf.irr(flows)) ** 12 - 1, rel=1e-8)
    assert res.to_dict()["pays_back_within_horizon"] is False
    worse = roi.run({**HAND, "p95_after_ms": 1000, "infrastructure_monthly_after": 10000})
    assert worse.point["monthly_benefit"] < 0
    assert worse.point["payback_months"] is None and worse.point["irr_annual"] is None


def test_cost_shares_price_cpu_and_memory_reductions() -> None:
    res = roi.run({"infrastructure_monthly_before": 10000, "cpu_cost_share": 0.6, "cpu_reduction_pct": 15,
                   "memory_cost_share": 0.2, "memory_reduction_pct": 10, "monthly_operational_cost_change": 300})
    assert res.point["infrastructure_saving"] == pytest.approx(10000 * (0.6 * 0.15 + 0.2 * 0.10))
    assert res.point["monthly_benefit"] == pytest.approx(1100 - 300)


def test_success_targets_checked_against_the_inputs() -> None:
    res = roi.run({**HAND, "infrastructure_monthly_after": None, "infrastructure_monthly_saving": 2000,
                   "infrastructure_monthly_before": None, "cpu_reduction_pct": 15})
    by = {s["metric"]: s for s in res.to_dict()["success_metrics"]}
    assert by["p95_ms"]["change_pct"] == pytest.approx(-25) and by["p95_ms"]["met"] is True
    assert by["cpu"]["change_pct"] == pytest.approx(-15) and by["cpu"]["met"] is False   # target -20%
    assert by["rps"]["met"] is None and by["rate_5xx"]["met"] is None                     # not measured
    assert by["rps"]["target_change_pct"] == 30 and by["rate_5xx"]["target_change_pct"] == -50


# -- Monte Carlo ---------------------------------------------------------------------------------------
def test_monte_carlo_with_fixed_inputs_equals_the_deterministic_result() -> None:
    model = roi.build_model(HAND)
    res = roi.run(model)
    sim = roi.simulate(model, draws=1000)
    for key in ("monthly_benefit", "npv", "payback_months", "roi_pct", "cumulative_benefit"):
        assert np.all(sim[key] == res.point[key]), key


UNCERTAIN = {**HAND, "one_time_cost": "pert(15000, 20000, 40000)", "revenue_uplift_per_100ms": None,
             "elasticity": "published", "p95_after_ms": "lognormal(600, 0.05)",
             "infrastructure_monthly_after": "triangular(7500, 8000, 9500)", "discount_rate_annual": "uniform(0.05, 0.15)"}


def test_distributions_give_ordered_percentiles_and_seeded_runs_repeat() -> None:
    a = roi.run(UNCERTAIN)
    d = a.to_dict()
    assert HEADLINE | SPREAD <= set(d)
    assert d["npv_p10"] <= d["npv_p50"] <= d["npv_p90"] and d["npv_p10"] < d["npv_p90"]
    assert d["monthly_benefit_p10"] <= d["monthly_benefit_p50"] <= d["monthly_benefit_p90"]
    assert 0 <= d["prob_npv_positive"] <= 1
    b = roi.run(UNCERTAIN)
    assert np.array_equal(a.draws["npv"], b.draws["npv"])
    c = roi.run(UNCERTAIN, seed=1)
    assert not np.array_equal(a.draws["npv"], c.draws["npv"])
    assert c.to_dict()["npv_p50"] == pytest.approx(d["npv_p50"], rel=0.01)
    # the simulated mean benefit is the model at the inputs' means (the model is linear in each input)
    pert_mean = (0.002 + 4 * 0.005 + 0.01) / 6
    tri_mean = (7500 + 8000 + 9500) / 3
    lnorm_mean = 600 * math.exp(0.05 ** 2 / 2)
    expected = (10000 - tri_mean) + 500000 * pert_mean * (800 - lnorm_mean) / 100
    assert a.draws["monthly_benefit"].mean() == pytest.approx(expected, rel=0.005)


@pytest.mark.parametrize("text", ["triangular(1, 2, 5)", "normal(10, 3)", "lognormal(10, 0.4)", "uniform(2, 8)",
                                  "pert(1, 2, 9)"])
def test_sampling_and_quantiles_describe_the_same_distribution(text: str) -> None:
    """The Monte Carlo samples, the tornado and the medians read quantiles: they must agree."""
    d = roi.parse_value("x", text)
    x = d.sample(np.random.default_rng(3), 200_000)
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(x, q) == pytest.approx(d.ppf(q), abs=0.01 * (d.ppf(0.9) - d.ppf(0.1)))


def test_tornado_swings_one_input_with_the_rest_at_medians() -> None:
    res = roi.run(UNCERTAIN)
    rows = res.tornado
    assert [r["swing"] for r in rows] == sorted((r["swing"] for r in rows), reverse=True)
    assert {r["input"] for r in rows} == {"one_time_cost", "revenue_uplift_per_100ms", "p95_after_ms",
                                          "infrastructure_monthly_after", "discount_rate_annual"}
    cost = next(r for r in rows if r["input"] == "one_time_cost")
    # only the cost moves: NPV falls one for one with it
    assert cost["npv_at_p10"] - cost["npv_at_p90"] == pytest.approx(cost["p90"] - cost["p10"])
    assert cost["npv_at_p10"] > res.point["npv"] > cost["npv_at_p90"]


# -- the command and bad configs -----------------------------------------------------------------------
def test_cli_json_shape_fixed_and_uncertain(tmp_path: Path) -> None:
    code, out, _ = run_cli("roi", "--config", str(write_yaml(tmp_path / "a.yml", HAND)), "--format", "json")
    assert code == 0
    d = json.loads(out)
    assert HEADLINE <= set(d) and not SPREAD & set(d)
    assert d["monthly_benefit"] == pytest.approx(12000)
    cfg = {k: v for k, v in UNCERTAIN.items() if v is not None}
    code, out, _ = run_cli("roi", "--config", str(write_yaml(tmp_path / "b.yml", cfg)), "--draws", "20000",
                           "--format", "json")
    d = json.loads(out)
    assert code == 0 and HEADLINE | SPREAD <= set(d) and d["draws"] == 20000
    assert {"input", "p10", "p90", "npv_at_p10", "npv_at_p90", "swing"} <= set(d["tornado"][0])
    code, out, _ = run_cli("roi", "--config", str(tmp_path / "b.yml"))
    assert code == 0 and "tornado" in out and "npv_p90" in out


@pytest.mark.parametrize("cfg,key", [
    ({**HAND, "horizon": 12}, "horizon"),
    ({**HAND, "horizon_months": -3}, "horizon_months"),
    ({**HAND, "one_time_cost": "triangular(30000, 20000, 10000)"}, "one_time_cost"),
    ({**HAND, "p95_after_ms": "uniform(700, 500)"}, "p95_after_ms"),
    ({k: v for k, v in HAND.items() if k != "monthly_revenue"}, "monthly_revenue"),
    ({**HAND, "elasticity": "hopeful", "revenue_uplift_per_100ms": None}, "elasticity"),
    ({**HAND, "one_time_cost": "gamma(2, 3)"}, "one_time_cost"),
    ({**HAND, "infrastructure_monthly_saving": 500}, "infrastructure_monthly_after"),
])
def test_bad_configs_fail_with_one_line_naming_the_key(tmp_path: Path, cfg: dict, key: str) -> None:
    path = write_yaml(tmp_path / "bad.yml", {k: v for k, v in cfg.items() if v is not None})
    code, out, err = run_cli("roi", "--config", str(path))
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1, err
    assert f"{path}: {key}:" in err


def test_bad_from_compare_spec_and_missing_file(tmp_path: Path) -> None:
    code, _, err = run_cli("roi", "--config", str(write_yaml(tmp_path / "a.yml", HAND)), "--from-compare", "before")
    assert code == 2 and "BEFORE..AFTER" in err
    code, _, err = run_cli("roi", "--config", str(tmp_path / "none.yml"))
    assert code == 2 and "none.yml" in err and len(err.strip().splitlines()) == 1


# -- from_compare on the bundled runs ------------------------------------------------------------------
RUNS = json.loads((SAMPLES / "k6" / "runs.json").read_text())   # the lab loop's runs
PRE, POST = (next(r for r, m in RUNS.items() if m["tags"]["optimization"] == o) for o in ("pre", "post"))
EVENTS = "/api/events"


@pytest.fixture(scope="module")
def sample_db(tmp_path_factory) -> Path:
    """The bundled lab-pre/lab-post k6 runs and the Prometheus ranges captured during them (the API's own
    CPU among them), as `workbench demo` loads them."""
    db = tmp_path_factory.mktemp("roi") / "wb.duckdb"
    with Store.open(db) as store:
        load_samples(store, SAMPLES)
        prom.load_samples(store, SAMPLES / "prometheus")
    return db


def test_from_compare_interval_matches_workbench_compare(sample_db: Path) -> None:
    code, out, _ = run_cli("compare", "--before", PRE, "--after", POST, "--format", "json", db=sample_db)
    assert code == 0
    cmp_out = json.loads(out)
    row = next(r for r in cmp_out["results"] if r["endpoint"] == EVENTS and r["metric"] == "p95_ms")
    (cpu,) = [r for r in cmp_out["resources"] if r["metric"] == "cpu"]   # lab-pre.cpu + lab-post.cpu, one series
    assert cpu["endpoint"] == f"{POST}.cpu + {PRE}.cpu"
    cfg = {"one_time_cost": 20000, "infrastructure_monthly_before": 10000, "cpu_cost_share": 0.5,
           "monthly_revenue": 500000, "elasticity": "published",
           "from_compare": {"before": PRE, "after": POST, "endpoint": EVENTS}}
    with Store.open(sample_db, read_only=True) as store:
        res = roi.run(cfg, store.con)
    m = res.model.measured["p95"]
    assert m["endpoint"] == EVENTS
    assert roi._endpoint(EVENTS, ["all", "events"]) == "events"   # a URL path finds a k6 request named by its tail
    for k_roi, k_cmp in (("before_ms", "before"), ("after_ms", "after"), ("change_pct", "change_pct"),
                         ("ci_low_pct", "ci_low_pct"), ("ci_high_pct", "ci_high_pct")):
        assert m[k_roi] == pytest.approx(row[k_cmp], rel=1e-12), k_roi
    # the p95 the Monte Carlo draws from has compare's interval as its central 95%
    after = res.model.inputs["p95_after_ms"]
    assert after.kind == "lognormal"
    for q, bound in ((0.025, row["ci_low_pct"]), (0.975, row["ci_high_pct"])):
        assert (after.ppf(q) / row["before"] - 1) * 100 == pytest.approx(bound, abs=1e-9)
    drawn = np.percentile(
        after.sample(np.random.default_rng(0), 100_000) / row["before"] * 100 - 100, [2.5, 97.5])
    assert drawn[0] == pytest.approx(row["ci_low_pct"], abs=0.1) and drawn[1] == pytest.approx(row["ci_high_pct"], abs=0.1)
    # the measured CPU change is priced through its cost share, and checked against the -20% target
    assert res.model.measured["cpu_change_pct"] == pytest.approx(cpu["change_pct"])
    assert res.model.inputs["cpu_reduction_pct"].ppf(0.5) == pytest.approx(-cpu["change_pct"])
    saving = 10000 * 0.5 * -cpu["change_pct"] / 100
    assert res.point["infrastructure_saving"] == pytest.approx(saving)
    by = {(s["metric"], s["endpoint"]): s for s in res.model.success}
    assert by[("cpu", cpu["endpoint"])]["change_pct"] == pytest.approx(cpu["change_pct"])
    assert by[("p95_ms", "all")]["change_pct"] == pytest.approx(
        next(r for r in cmp_out["results"] if r["endpoint"] == "all" and r["metric"] == "p95_ms")["change_pct"])


def test_cli_from_compare_and_an_unknown_run(sample_db: Path, tmp_path: Path) -> None:
    path = write_yaml(tmp_path / "c.yml", {"one_time_cost": "pert(5000, 8000, 20000)", "monthly_revenue": 200000,
                                           "elasticity": "conservative"})
    code, out, err = run_cli("roi", "--config", str(path), "--from-compare", f"{PRE}..{POST}", "--endpoint",
                             EVENTS, "--format", "json", db=sample_db)
    assert code == 0, err
    d = json.loads(out)
    assert HEADLINE | SPREAD <= set(d) and d["elasticity"] == "conservative"
    assert d["measured"]["p95"]["endpoint"] == EVENTS and d["measured"]["p95"]["ci_high_pct"] < 0
    assert d["inputs"]["p95_after_ms"].startswith("lognormal(")
    assert {t["input"] for t in d["tornado"]} == {"one_time_cost", "revenue_uplift_per_100ms", "p95_after_ms"}
    assert any("one run per arm" in n for n in d["notes"])
    code, _, err = run_cli("roi", "--config", str(path), "--from-compare", f"{PRE}..nope", db=sample_db)
    assert code == 2 and "nope" in err and len(err.strip().splitlines()) == 1


# -- the notebook ---------------------------------------------------------------------------------------
def test_notebook_committed_clean_with_parameters_first() -> None:
    book = nbformat.read(NB70, as_version=4)
    code = [c for c in book.cells if c.cell_type == "code"]
    assert "parameters" in code[0].metadata.get("tags", [])
    for name in ("db", "config", "before", "after", "endpoint", "one_time_cost", "conversion_uplift_pct"):
        assert f"{name} =" in code[0].source
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in code)


def test_notebook_with_the_bundled_runs(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "70.ipynb"
    pm.execute_notebook(str(NB70), str(out), parameters={"db": str(sample_db), "before": PRE, "after": POST,
                                                         "endpoint": EVENTS},
                        cwd=str(ROOT), progress_bar=False, kernel_name="python3")
    nb = nbformat.read(out, as_version=4)
    text, images = [], 0
    for cell in nb.cells:
        for o in cell.get("outputs", []):
            assert o.get("output_type") != "error", o
            data = o.get("data", {})
            images += "image/png" in data
            text.append(json.dumps(data.get("text/plain", "")) + json.dumps(data.get("text/markdown", ""))
                        + json.dumps(data.get("text/html", "")))
    text = "\n".join(text)
    assert "Verdict: NPV" in text and f"p95 of {EVENTS} went from" in text and "P(NPV > 0)" in text
    assert "Milliseconds Make Millions" in text
    assert images == 3   # cash flow, NPV histogram, tornado


def test_docs_evidence_table_is_the_models() -> None:
    """docs/roi.md shows the evidence rows and presets the model uses, word for word (no drift)."""
    doc = (ROOT / "docs" / "roi.md").read_text().replace("*", "").replace("–", "-")
    for row in roi.EVIDENCE:
        for key in ("finding", "kind", "strength"):
            assert row[key].replace("'", "") in doc.replace("'", ""), row[key]
    for name, (dist, _) in roi.ELASTICITY_PRESETS.items():
        assert f"`{name}`" in doc and f"`{dist}`" in doc
