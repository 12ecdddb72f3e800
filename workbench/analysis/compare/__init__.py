"""Before/after and A/B comparison of k6 runs (and of two Prometheus series), block-aware.

Requests within one run are not independent: load, caches and GC drift together. Every interval here
treats time windows as clusters (`workbench.gate`): the run's steady state (after `skip_s`, before
`until_s`) is cut into `windows` equal windows per run, and the statistic's linearised influence is
summed per window. Several runs per arm are the unit of a random-effects model; with one run per arm
the run-to-run variance cannot be estimated (a note says so and an assumed run sd is added).

The package in four steps, one module each, importing only the steps before it:
- `options`: what is asked (metrics, window, tolerances, targets);
- `loading`: the arms' request rows, resources and plot frames;
- `gating`: per endpoint x metric differences, verdicts, targets and the gate (`compare_runs`, `abtest_run`);
- `rendering`: JUnit XML and Markdown for CI;
- `narrative`: the technical verdict paragraph and the notebooks' outcome and tables.
The names below are the package's API (`from workbench.analysis import compare as cmp; cmp.compare_runs`).
"""

from workbench.analysis.compare.gating import (
    POWER_RUNS,
    ArmMetric,
    abtest_prometheus,
    abtest_run,
    arm_metric,
    arrival_rate,
    compare_arms,
    compare_result,
    compare_runs,
    evaluate_targets,
    gate_passed,
    learn_tolerance,
    options_dict,
    power_rows,
    run_notes,
    separated,
    window_quantiles,
)
from workbench.analysis.compare.loading import (
    Arm,
    ab_latency,
    arm_from_rows,
    before_after_latency,
    latency_frame,
    load_arm,
    one_series,
    resource_rows,
    runs_present,
    series_overlap,
    steady_window,
)
from workbench.analysis.compare.narrative import (
    TABLE_COLUMNS,
    Outcome,
    abtest_outcome,
    before_after_outcome,
    compare_verdict,
    notes_markdown,
    results_frame,
    results_table,
    srm_markdown,
    targets_frame,
    verdict_text,
)
from workbench.analysis.compare.options import (
    AUTO_TOLERANCE_FLOOR_PCT,
    AUTO_TOLERANCE_K,
    DEFAULT_TOLERANCE,
    HIGHER_IS_BETTER,
    METRICS,
    MIN_ACTIVE_WINDOWS,
    MIN_REQUESTS,
    PLAYBOOK_TARGETS,
    PROPORTIONS,
    QUANTILES,
    RESOURCE_METRICS,
    Options,
    Tolerance,
    load_targets,
    load_tolerances,
    notebook_options,
    parse_duration,
    parse_tolerances,
    split_arms,
    split_runs,
)
from workbench.analysis.compare.rendering import (
    arm_names,
    to_junit,
    to_markdown,
)

__all__ = [
    "AUTO_TOLERANCE_FLOOR_PCT",
    "AUTO_TOLERANCE_K",
    "DEFAULT_TOLERANCE",
    "HIGHER_IS_BETTER",
    "METRICS",
    "MIN_ACTIVE_WINDOWS",
    "MIN_REQUESTS",
    "PLAYBOOK_TARGETS",
    "PROPORTIONS",
    "QUANTILES",
    "RESOURCE_METRICS",
    "Options",
    "Tolerance",
    "load_targets",
    "load_tolerances",
    "notebook_options",
    "parse_duration",
    "parse_tolerances",
    "split_arms",
    "split_runs",
    "Arm",
    "ab_latency",
    "arm_from_rows",
    "before_after_latency",
    "latency_frame",
    "load_arm",
    "one_series",
    "resource_rows",
    "runs_present",
    "series_overlap",
    "steady_window",
    "POWER_RUNS",
    "ArmMetric",
    "abtest_prometheus",
    "abtest_run",
    "arm_metric",
    "arrival_rate",
    "compare_arms",
    "compare_result",
    "compare_runs",
    "evaluate_targets",
    "gate_passed",
    "learn_tolerance",
    "options_dict",
    "power_rows",
    "run_notes",
    "separated",
    "window_quantiles",
    "arm_names",
    "to_junit",
    "to_markdown",
    "TABLE_COLUMNS",
    "Outcome",
    "abtest_outcome",
    "before_after_outcome",
    "compare_verdict",
    "notes_markdown",
    "results_frame",
    "results_table",
    "srm_markdown",
    "targets_frame",
    "verdict_text",
]
