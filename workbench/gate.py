"""The CI gate's statistics on arrays: per-run estimates, runs as the unit, tolerance verdicts.

`workbench compare` / `abtest` load requests from the store and call these functions once per run
(a batch of one); calibration simulations call the very same functions with a batch of S simulated
runs at once (rows of 2-D arrays), so what the suite measures is what the CLI does.

1. **Per run** (`run_quantile`, `run_mean`, `run_rate`): the run's statistic and the variance of it,
   from the statistic's linearised influence summed per time window, with an equal-weighted cosine
   (EWC) long-run variance whose number of cosines adapts to the window sums' autocorrelation, or a
   refusal when the drift's memory is too long for the run (`DRIFT_MIN_RATIO`).
2. **Runs as the unit** (`combine`): a random-effects model (per-run estimate = arm mean + run effect
   with variance tau^2 + within-run error): the within-run variances are pooled per arm, so runs count
   equally (`pool_within`); tau^2 by DerSimonian-Laird (method of moments, pooled over both arms); the
   difference's variance by Knapp-Hartung, t with (runs - 2) degrees of freedom: in effect Student's
   two-sample t on the run estimates. With one run per arm tau^2 cannot be estimated: an assumed
   run-level sd (`run_sd`) is added and the tolerance does the rest.
3. **Verdicts** (`decide`): significant after adjustment *and* beyond the tolerance = regressed /
   improved; interval inside the tolerance (or a significant but negligible change) = no_change; not
   significant with the interval reaching past the tolerance = inconclusive.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as _st

EWC_B = 6                 # cosines when the window sums show no persistence
DRIFT_MIN_RATIO = 0.85     # fewest cosines' mean spectral ratio (AR(1) fit) that we accept / correct for
MIN_TAIL = 10             # requests above a quantile in each arm before it gets a p-value


@dataclass
class RunEst:
    """Per-run estimates of one statistic, shape (S, ) each (S = batch of runs)."""

    y: np.ndarray             # the estimate on the test scale (log for latency and rps)
    var: np.ndarray           # its within-run variance (drift-aware)
    df: np.ndarray            # EWC degrees of freedom (cosines used)
    value: np.ndarray         # the statistic as reported (k6's linear quantile, rate, proportion)
    n: np.ndarray             # requests (finite values) in the run
    refused: np.ndarray       # drift memory too long for the run: the variance is not trustworthy
    memory_s: np.ndarray = field(default_factory=lambda: np.zeros(0))   # estimated drift memory
    infl: np.ndarray | None = None   # (S, n) each request's influence on y (for pairing by window)


# -- per-run long-run variance ------------------------------------------------------------------------
def window_index(win: np.ndarray, g: int) -> np.ndarray:
    """(S, n) window indices -> flat bin numbers row * g + window (compute once, sum many series)."""
    win = np.atleast_2d(win)
    return ((np.arange(win.shape[0]) * g)[:, None] + np.clip(win, 0, g - 1)).ravel()


def window_sums(e: np.ndarray, win: np.ndarray, g: int, flat: np.ndarray | None = None) -> np.ndarray:
    """(S, n) residuals and window indices 0..g-1 -> (S, g) per-window sums (FLAT: `window_index`)."""
    s = e.shape[0]
    flat = window_index(win, g) if flat is None else flat
    return np.bincount(flat, weights=e.ravel(), minlength=s * g).reshape(s, g)


def lag1(series: np.ndarray) -> np.ndarray:
    """Lag-1 autocorrelation of each row with Kendall's small-sample bias correction, in [0, 0.98]."""
    g = series.shape[1]
    c = series - series.mean(axis=1, keepdims=True)
    den = (c * c).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        rho = np.where(den > 0, (c[:, 1:] * c[:, :-1]).sum(axis=1) / den, 0.0)
    return np.clip(rho + (1 + 3 * rho) / g, 0.0, 0.98)


def ewc(sums: np.ndarray, b_max: int = EWC_B, rho: np.ndarray | None = None
        ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(variance of the total, df, refused, AR(1) coefficient) from (S, G) window sums in time order.

    The window sums are projected on the B lowest cosines (Lazarus, Lewis, Stock & Watson 2018); their
    mean square estimates the long-run variance of a window sum when the spectrum is flat over those
    frequencies. Drift with a memory of several windows makes it fall: the lag-1 autocorrelation of
    the sums (or RHO, measured on a less noisy series of the same run; the larger is used), read as an
    AR(1), says by how much, so B is the largest number of cosines whose mean spectral ratio stays
    >= DRIFT_MIN_RATIO, and the estimate is divided by that ratio. When even two cosines fall short,
    the run is `refused` (too short for its drift).
    """
    s, g = sums.shape
    own = lag1(sums)
    rho = own if rho is None else np.maximum(own, rho)
    bmax = max(1, min(b_max, g - 1))
    j = np.arange(1, bmax + 1)
    om = np.pi * j / g
    ratio = (1 - rho[:, None]) ** 2 / (1 - 2 * rho[:, None] * np.cos(om)[None, :] + rho[:, None] ** 2)
    mean_ratio = np.cumsum(ratio, axis=1) / j[None, :]
    ok = mean_ratio >= DRIFT_MIN_RATIO
    b = np.where(ok.any(axis=1), bmax - np.argmax(ok[:, ::-1], axis=1), 1)
    refused = ~ok[:, min(1, bmax - 1)] if bmax > 1 else np.zeros(s, dtype=bool)
    b = np.maximum(b, min(2, bmax))
    cos = np.cos(np.pi * j[:, None] * (np.arange(g)[None, :] + 0.5) / g)
    lam2 = (math.sqrt(2 / g) * sums @ cos.T) ** 2               # (S, bmax)
    keep = j[None, :] <= b[:, None]
    lrv = (lam2 * keep).sum(axis=1) / b / mean_ratio[np.arange(s), b - 1]
    return g * lrv, b.astype(float), refused, rho


def level_rho(x: np.ndarray, win: np.ndarray, g: int, flat: np.ndarray | None = None,
              median: np.ndarray | None = None) -> np.ndarray:
    """Persistence of a run's latency level: the larger `lag1` of two per-window series to which every
    request contributes (mean log latency, and the share of requests below the run's median), so drift
    shows far more clearly than in a tail quantile's own influence sums."""
    flat = window_index(win, g) if flat is None else flat
    lx = np.log(np.maximum(x, 1e-12))
    cnt = window_sums(np.ones_like(lx), win, g, flat)
    med = np.median(x, axis=1) if median is None else median
    below = (x <= med[:, None]).astype(float)
    out = np.zeros(x.shape[0])
    for series in (lx - lx.mean(axis=1, keepdims=True), below - below.mean(axis=1, keepdims=True)):
        with np.errstate(invalid="ignore", divide="ignore"):
            m = np.where(cnt > 0, window_sums(series, win, g, flat) / cnt, 0.0)
        out = np.maximum(out, lag1(m))
    return out


def resolution(xs: np.ndarray) -> np.ndarray:
    """Per row of sorted values: the data's resolution when most values are ties (rounded latencies),
    else 0 (continuous)."""
    d = np.diff(xs, axis=1)
    tied = (d == 0).mean(axis=1) > 0.5
    pos = np.where(d > 0, d, np.inf).min(axis=1)
    return np.where(tied & np.isfinite(pos), pos, 0.0)


def run_quantile(x: np.ndarray, win: np.ndarray, g: int, q: float, window_s: float = 1.0,
                 log: bool = True) -> RunEst:
    """The q-quantile of each run (rows of X; WIN: window index 0..g-1 of each request); see `run_quantiles`."""
    return run_quantiles(x, win, g, (q,), window_s, log)[0]


def run_quantiles(x: np.ndarray, win: np.ndarray, g: int, qs: tuple[float, ...], window_s: float = 1.0,
                  log: bool = True) -> list[RunEst]:
    """The QS-quantiles of each run (rows of X; WIN: window index 0..g-1 of each request), one sort.

    Continuous data: k6's linear quantile, 1/f(Q) from the order-statistic spacing (as
    `stats.quantile_se`). Tied data (most values repeat, e.g. latencies rounded to 1 ms): the quantile
    of the data spread uniformly over its resolution cell (a smoothed quantile; 1/f = cell width over the
    cell's share), so neither the estimate nor its standard error collapses onto the grid.
    """
    x = np.atleast_2d(np.asarray(x, dtype=float))
    win = np.atleast_2d(np.asarray(win))
    s, n = x.shape
    xs = np.sort(x, axis=1)
    r = resolution(xs)
    tied = np.flatnonzero(r > 0)
    flat = window_index(win, g)
    level = level_rho(x, win, g, flat, xs[:, (n - 1) // 2])
    z = _st.norm.ppf(0.975)
    out = []
    for q in qs:
        pos = q * (n - 1)
        fl = int(math.floor(pos))
        value = xs[:, fl] + (pos - fl) * (xs[:, min(fl + 1, n - 1)] - xs[:, fl])
        half = z * math.sqrt(n * q * (1 - q))
        lo_r, hi_r = max(int(math.floor(pos - half)), 0), min(int(math.ceil(pos + half)), n - 1)
        inv_f = (xs[:, hi_r] - xs[:, lo_r]) * n / max(hi_r - lo_r, 1)
        est = value.copy()
        share = (q - (x <= value[:, None])) * inv_f[:, None]
        if tied.size:
            xt, rt = xs[tied], r[tied]
            v = xt[:, min(int(math.floor(q * n)), n - 1)]
            n_lt = (xt < v[:, None]).sum(axis=1)
            n_eq = (xt == v[:, None]).sum(axis=1)
            qs_t = v - rt / 2 + rt * (q * n - n_lt) / n_eq
            est[tied] = qs_t
            # density over the cells the order-statistic bracket spans (at least the quantile's own cell)
            lo_v, hi_v = xt[:, lo_r], xt[:, hi_r]
            count = (xt <= hi_v[:, None]).sum(axis=1) - (xt < lo_v[:, None]).sum(axis=1)
            inv_f[tied] = n * (hi_v - lo_v + rt) / count
            gfrac = np.clip((qs_t[:, None] - x[tied] + rt[:, None] / 2) / rt[:, None], 0.0, 1.0)
            share[tied] = (q - gfrac) * inv_f[tied][:, None]
        var_tot, df, refused, rho = ewc(window_sums(share, win, g, flat), rho=level)
        var = var_tot / n ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            y = np.log(est) if log else est
            var = var / est ** 2 if log else var
            infl = share / n / est[:, None] if log else share / n
        out.append(RunEst(y, var, df, value, np.full(s, n), refused, _memory(rho, window_s), infl))
    return out


def _memory(rho: np.ndarray, window_s: float) -> np.ndarray:
    """The AR(1) coefficient of window sums as an e-folding time in seconds."""
    with np.errstate(divide="ignore"):
        return np.where(rho > 0, -window_s / np.log(np.maximum(rho, 1e-9)), 0.0)


def run_mean(x: np.ndarray, win: np.ndarray, g: int, window_s: float = 1.0) -> RunEst:
    """The mean of each run (rows of X: e.g. 0/1 failures: a proportion), on the difference scale."""
    x = np.atleast_2d(np.asarray(x, dtype=float))
    s, n = x.shape
    m = x.mean(axis=1)
    var_tot, df, refused, rho = ewc(window_sums(x - m[:, None], np.atleast_2d(win), g))
    return RunEst(m, var_tot / n ** 2, df, m, np.full(s, n), refused, _memory(rho, window_s), (x - m[:, None]) / n)


def run_rate(counts: np.ndarray, lengths: np.ndarray) -> RunEst:
    """Requests per second of each run from (S, G) per-window counts and window lengths (s); log scale."""
    c, ln = np.atleast_2d(np.asarray(counts, dtype=float)), np.atleast_2d(np.asarray(lengths, dtype=float))
    rate = c.sum(axis=1) / ln.sum(axis=1)
    var_tot, df, refused, rho = ewc(c - rate[:, None] * ln)
    with np.errstate(divide="ignore", invalid="ignore"):
        var = var_tot / ln.sum(axis=1) ** 2 / rate ** 2
        y = np.log(rate)
    return RunEst(y, var, df, rate, c.sum(axis=1).astype(int), refused, np.zeros(c.shape[0]))


def stack(ests: list[RunEst]) -> RunEst:
    """An arm's runs, each a batch of S estimates, -> one RunEst of shape (S, R)."""
    return RunEst(*(np.stack([np.asarray(getattr(e, f)) for e in ests], axis=1)
                    for f in ("y", "var", "df", "value", "n", "refused", "memory_s")))


# -- runs as the unit ---------------------------------------------------------------------------------
@dataclass
class Diff:
    """Treatment minus control on the test scale, per batch row (S, )."""

    est: np.ndarray
    se: np.ndarray
    df: np.ndarray
    p: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    tau: np.ndarray           # between-run sd (estimated, or the assumed one with one run per arm)
    refused: np.ndarray       # one run per arm and the drift is too slow for the run: no p-value
    method: str = ""


def _satterthwaite(va: np.ndarray, dfa: np.ndarray, vb: np.ndarray, dfb: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        den = va ** 2 / dfa + vb ** 2 / dfb
        return np.where(den > 0, (va + vb) ** 2 / den, np.inf)


def _finish(est: np.ndarray, var: np.ndarray, df: np.ndarray, alpha: float) -> tuple[np.ndarray, ...]:
    se = np.sqrt(np.maximum(var, 0.0))
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(se > 0, est / se, np.where(est == 0, 0.0, np.copysign(np.inf, est)))
    df = np.where(np.isfinite(df), df, 1e9)
    p = 2 * _st.t.sf(np.abs(t), df)
    crit = _st.t.ppf(1 - alpha / 2, df)
    return se, p, est - crit * se, est + crit * se


def pool_within(arm: RunEst) -> np.ndarray:
    """The within-run variance `combine` gives every run of an arm: the arm's pooled per-request variance
    over the runs' request counts, averaged over its runs; shape (S, R), equal along R.

    n_i * v_i estimates the same per-request (influence) variance in every run of an arm, but each v_i
    alone rests on a handful of EWC degrees of freedom (6 cosines): weights 1/(v_i + tau^2) built from
    them are noisy, which costs power and makes the Knapp-Hartung t liberal (the reason for its usual
    floor). Pooled with the runs' df as weights (as a pooled variance in ANOVA) they are precise. Runs
    of unequal length then still get equal weights: with tau^2 estimated from a few runs, weights by
    length make the Knapp-Hartung t liberal (raw A/A rate up to 0.13 with runs of 1,500 to 24,000
    requests), while the plain mean of the runs has the variance mean(tau^2 + v_i) / R that the runs'
    spread estimates without bias, whatever their lengths."""
    v, n, df = (np.atleast_2d(np.asarray(x, dtype=float)) for x in (arm.var, arm.n, arm.df))
    df = np.where(np.isfinite(df) & (df > 0), df, 1.0)
    pooled = (df * np.maximum(n, 1.0) * v).sum(axis=1, keepdims=True) / df.sum(axis=1, keepdims=True)
    return np.broadcast_to((pooled / np.maximum(n, 1.0)).mean(axis=1, keepdims=True), v.shape)


def combine(a: RunEst, b: RunEst, alpha: float = 0.05, run_sd: float = 0.0) -> Diff:
    """Random-effects difference of arm B minus arm A from their per-run estimates, shape (S, R).

    Several runs (R_a + R_b >= 3): within-run variances pooled per arm (`pool_within`), so each arm's
    mean is the plain mean of its runs; tau^2 by DerSimonian-Laird with the arm as a covariate (residual
    Q of each arm about its mean, pooled); Knapp-Hartung variance (the model's variance scaled by the
    weighted residual spread) and t with R_a + R_b - 2 degrees of freedom. When both arms have the same
    pooled within-run variance this is exactly Student's pooled two-sample t on the run estimates (exact
    level under the normal random-effects model, whatever tau). One run per arm: the within-run
    variances plus RUN_SD^2 per arm, t with the EWC (Satterthwaite) degrees of freedom.
    """
    ya, va, yb, vb = (np.atleast_2d(v) for v in (a.y, a.var, b.y, b.var))
    ra, rb = ya.shape[1], yb.shape[1]
    k = ra + rb
    if k > 2:
        va, vb = pool_within(a), pool_within(b)
    if k == 2:
        tau2 = np.full(ya.shape[0], run_sd ** 2)
        est = yb[:, 0] - ya[:, 0]
        var = va[:, 0] + vb[:, 0] + 2 * tau2
        # the assumed run variance is known, not estimated: it adds no uncertainty to the df
        df = _satterthwaite(va[:, 0], np.atleast_2d(a.df)[:, 0], vb[:, 0], np.atleast_2d(b.df)[:, 0])
        with np.errstate(invalid="ignore", over="ignore"):
            df = np.where(np.isfinite(df) & (var > 0), df * (var / np.maximum(va[:, 0] + vb[:, 0], 1e-300)) ** 2, df)
        refused = np.atleast_2d(a.refused)[:, 0] | np.atleast_2d(b.refused)[:, 0]
        method = "one run per arm: within-run (EWC) variance" + (f" + assumed run sd {run_sd:g}" if run_sd else "")
    else:
        floor = 1e-18
        wa, wb = 1 / np.maximum(va, floor), 1 / np.maximum(vb, floor)

        def q_c(y: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            sw = w.sum(axis=1)
            m = (w * y).sum(axis=1) / sw
            return (w * (y - m[:, None]) ** 2).sum(axis=1), sw - (w * w).sum(axis=1) / sw

        qa, ca = q_c(ya, wa)
        qb, cb = q_c(yb, wb)
        with np.errstate(divide="ignore", invalid="ignore"):
            tau2 = np.where(ca + cb > 0, np.maximum(0.0, (qa + qb - (k - 2)) / (ca + cb)), 0.0)
        wa2, wb2 = 1 / (np.maximum(va, floor) + tau2[:, None]), 1 / (np.maximum(vb, floor) + tau2[:, None])
        ma, mb = (wa2 * ya).sum(axis=1) / wa2.sum(axis=1), (wb2 * yb).sum(axis=1) / wb2.sum(axis=1)
        est = mb - ma
        var0 = 1 / wa2.sum(axis=1) + 1 / wb2.sum(axis=1)
        s2 = ((wa2 * (ya - ma[:, None]) ** 2).sum(axis=1) + (wb2 * (yb - mb[:, None]) ** 2).sum(axis=1)) / (k - 2)
        # Knapp-Hartung without the floor at the model's variance (Röver et al.'s "modified" KH): the
        # floor guards against noisy weights, which pooling removed; with it the test is conservative
        # (raw A/A rate 0.00-0.02 at 2 runs per arm) and loses power.
        var = s2 * var0
        df = np.full(ya.shape[0], float(k - 2))
        refused = np.zeros(ya.shape[0], dtype=bool)
        method = "runs as the unit: DerSimonian-Laird random effects (runs weighted equally), Knapp-Hartung t"
    se, p, lo, hi = _finish(est, var, df, alpha)
    return Diff(est, se, df, p, lo, hi, np.sqrt(tau2), refused, method)


def between_sd(arm: RunEst) -> np.ndarray:
    """DerSimonian-Laird between-run sd of one arm's runs (within-run variances pooled, as in
    `combine`), shape (S, R) -> (S, )."""
    y = np.atleast_2d(arm.y)
    w = 1 / np.maximum(pool_within(arm) if y.shape[1] > 1 else np.atleast_2d(arm.var), 1e-18)
    sw = w.sum(axis=1)
    m = (w * y).sum(axis=1) / sw
    q = (w * (y - m[:, None]) ** 2).sum(axis=1)
    c = sw - (w * w).sum(axis=1) / sw
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt(np.where(c > 0, np.maximum(0.0, (q - (y.shape[1] - 1)) / c), 0.0))


def paired(a: RunEst, wa: np.ndarray, b: RunEst, wb: np.ndarray, g: int, alpha: float = 0.05) -> Diff:
    """B minus A for two arms served in the same seconds of one run (an A/B test): their requests'
    influences are summed per time window and differenced window by window, so drift shared by the arms
    cancels before the long-run variance is taken (EWC, as for one run)."""
    d = window_sums(b.infl, np.atleast_2d(wb), g) - window_sums(a.infl, np.atleast_2d(wa), g)
    var, df, refused, _ = ewc(d)
    est = np.atleast_1d(b.y - a.y)
    se, p, lo, hi = _finish(est, var, df, alpha)
    return Diff(est, se, df, p, lo, hi, np.zeros_like(est), refused, "paired by time window (EWC)")


# -- tolerance verdicts -------------------------------------------------------------------------------
def adjust(p: np.ndarray, method: str = "holm") -> np.ndarray:
    """Holm / Benjamini-Hochberg / none across the last axis of P (S, M); NaN = not in the family."""
    p = np.atleast_2d(np.asarray(p, dtype=float))
    if method == "none":
        return p.copy()
    if method not in ("holm", "hochberg", "bh"):
        raise ValueError(f"unknown adjustment {method!r}: use holm, hochberg, bh or none")
    ok = np.isfinite(p)
    m = ok.sum(axis=1, keepdims=True)
    pp = np.where(ok, p, np.inf)
    order = np.argsort(pp, axis=1)
    ps = np.take_along_axis(pp, order, axis=1)
    i = np.arange(p.shape[1])[None, :]
    ps = np.where(np.isfinite(ps), ps, 1.0)          # NaNs sort last; their slots are masked below
    inside = i < m
    if method == "holm":
        adj = np.maximum.accumulate(np.where(inside, np.minimum((m - i) * ps, 1.0), 1.0), axis=1)
    elif method == "hochberg":
        adj = np.minimum.accumulate(np.where(inside, np.minimum((m - i) * ps, 1.0), 1.0)[:, ::-1], axis=1)[:, ::-1]
    else:
        adj = np.minimum.accumulate(np.where(inside, m * ps / (i + 1), 1.0)[:, ::-1], axis=1)[:, ::-1]
        adj = np.minimum(adj, 1.0)
    out = np.empty_like(adj)
    np.put_along_axis(out, order, adj, axis=1)
    return np.where(ok, out, np.nan)


VERDICTS = ("improved", "regressed", "no_change", "inconclusive", "missing")


def decide(est: np.ndarray, lo: np.ndarray, hi: np.ndarray, p_adj: np.ndarray, tol_lo: np.ndarray,
           tol_hi: np.ndarray, higher_is_better: np.ndarray, alpha: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """(verdict, negligible) arrays: regressed / improved when significant (P_ADJ < ALPHA) and the estimate
    lies beyond the tolerance [TOL_LO, TOL_HI] (same scale as EST) in the bad / good direction;
    no_change when the interval lies inside it or a significant change is within it (negligible);
    inconclusive when not significant and the interval reaches past it. Without an interval (tail rule,
    too few requests) the estimate alone decides between no_change and inconclusive."""
    est, lo, hi, p_adj = (np.asarray(v, dtype=float) for v in (est, lo, hi, p_adj))
    sig = np.isfinite(p_adj) & (p_adj < alpha)
    up, down = est > tol_hi, est < tol_lo
    hib = np.broadcast_to(np.asarray(higher_is_better, dtype=bool), est.shape)
    inside = np.isfinite(lo) & np.isfinite(hi) & (lo >= tol_lo) & (hi <= tol_hi)
    no_ci = ~(np.isfinite(lo) & np.isfinite(hi))
    verdict = np.full(est.shape, "inconclusive", dtype=object)
    verdict[inside | (no_ci & ~up & ~down)] = "no_change"
    negligible = sig & ~up & ~down
    verdict[negligible] = "no_change"
    bad = sig & np.where(hib, down, up)
    good = sig & np.where(hib, up, down)
    verdict[bad] = "regressed"
    verdict[good] = "improved"
    return verdict, negligible


def gate(diffs: list[Diff], tol_lo: list[float], tol_hi: list[float], higher_is_better: list[bool],
         alpha: float = 0.05, method: str = "holm", no_p: list[np.ndarray] | None = None
         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Adjusted p-values, verdicts and negligible flags, shape (S, M), for M metric differences.

    NO_P (per metric, (S, ) booleans): rows that get no p-value (tail rule, too few windows, refused
    drift); they are left out of the adjustment family and have no interval."""
    s = diffs[0].est.shape[0]
    p = np.stack([d.p for d in diffs], axis=1)
    lo = np.stack([d.lo for d in diffs], axis=1)
    hi = np.stack([d.hi for d in diffs], axis=1)
    est = np.stack([d.est for d in diffs], axis=1)
    if no_p is not None:
        mask = np.stack([np.broadcast_to(m, (s,)) for m in no_p], axis=1)
        p, lo, hi = (np.where(mask, np.nan, v) for v in (p, lo, hi))
    p_adj = adjust(p, method)
    verdict, negligible = decide(est, lo, hi, p_adj, np.asarray(tol_lo)[None, :], np.asarray(tol_hi)[None, :],
                                 np.asarray(higher_is_better)[None, :], alpha)
    return p_adj, verdict, negligible


# -- planning -----------------------------------------------------------------------------------------
def design_mde(base: RunEst, runs_per_arm: int, requests_per_run: float | None = None, tol_pct: float = 5.0,
               alpha: float = 0.05, power: float = 0.8, run_sd: float = 0.02, sims: int = 4000,
               seed: int = 0) -> float:
    """Smallest increase (%) that the gate calls `regressed` with POWER, by simulation from baseline runs.

    BASE: the baseline's per-run estimates (shape (1, R), log scale). Each simulated run draws its
    estimate from N(0, tau^2 + v) with tau the baseline's between-run sd (DerSimonian-Laird; the
    assumed RUN_SD with one baseline run) and v its mean within-run variance scaled to
    REQUESTS_PER_RUN, and its variance estimate from v * chi^2_df / df (df = the runs' EWC cosines).
    The simulated arms then go through `combine` and `decide` exactly as in compare; because the
    difference is shift-equivariant, one set of draws serves every candidate change.
    """
    y, var = np.atleast_2d(base.y), np.atleast_2d(base.var)
    tau = float(between_sd(base)[0]) if y.shape[1] > 1 else run_sd
    n0 = float(np.mean(base.n))
    v = float(np.mean(var)) * (n0 / requests_per_run if requests_per_run else 1.0)
    dfw = max(float(np.mean(base.df)), 1.0)
    rng = np.random.default_rng(seed)

    def arm() -> RunEst:
        shape = (sims, runs_per_arm)
        yy = rng.normal(0.0, math.sqrt(tau ** 2 + v), shape)
        vv = v * rng.chisquare(dfw, shape) / dfw
        z = np.zeros(shape, dtype=bool)
        return RunEst(yy, vv, np.full(shape, dfw), np.exp(yy), np.full(shape, requests_per_run or n0), z)

    d = combine(arm(), arm(), alpha, run_sd)
    grid = np.concatenate([np.arange(0.25, 20, 0.25), np.arange(20, 200, 1.0)])
    tol_lo, tol_hi = math.log1p(-min(tol_pct, 99.0) / 100), math.log1p(tol_pct / 100)
    for pct in grid:
        est = d.est + math.log1p(pct / 100)
        with np.errstate(divide="ignore", invalid="ignore"):
            p = 2 * _st.t.sf(np.abs(est / d.se), np.where(np.isfinite(d.df), d.df, 1e9))
        verdict, _ = decide(est, est - (d.hi - d.est), est + (d.hi - d.est), p, tol_lo, tol_hi, False, alpha)
        if np.mean(verdict == "regressed") >= power:
            return float(pct)
    return math.inf
