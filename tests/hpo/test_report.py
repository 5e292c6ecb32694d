"""The ablation and search reports, on studies built directly through Optuna.

Intervals, differences and ensemble rows are recomputed here from the stored
per-molecule predictions with scikit-learn and plain loops, independently of
the report's vectorised bootstrap.
"""

from __future__ import annotations

import math

import numpy as np
import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState
from rich.console import Console
from scipy import stats
from sklearn.metrics import roc_auc_score

from pepland_hpo.hpo.analysis import trial_predictions
from pepland_hpo.hpo.study import trial_identity
from pepland_hpo.hpo.analysis import AblationReport, SearchReport, build_report, render_report
from pepland_hpo.hpo.analysis import build_ablation
from pepland_hpo.hpo.analysis import make_plan
from pepland_hpo.hpo.analysis import holm, paired_test, summarize

from test_report_factory import VARIANTS, make_ablation_study, make_evidence_study, random_splits


@pytest.fixture
def url(tmp_path) -> str:
    return f"sqlite:///{tmp_path / 'studies.db'}"


def _labels(n: int = 200, seed: int = 1) -> np.ndarray:
    return (np.random.default_rng(seed).random(n) < 0.4).astype(float)


def _report(url, name="ev", n_resamples=2000, metric=None):
    study = optuna.load_study(study_name=name, storage=url)
    return study, build_ablation(study, dict(study.user_attrs["spec"]), metric, reference=False,
                                 n_resamples=n_resamples)


# --------------------------------------------------------------------------- intervals


@pytest.mark.parametrize("repeats", [1, 3])
def test_interval_matches_an_independent_loop_over_stored_predictions(url, repeats):
    labels = _labels()
    splits = random_splits(len(labels), repeats)
    make_evidence_study(url, labels, splits, variants=["gcn", "graphormer"], seeds=(0, 1))
    B = 200
    study, report = _report(url, n_resamples=B)
    row = next(r for r in report.rows if r.variant == "graphormer")
    # the report's resamples, re-drawn from the same seed: counts per molecule of each split's test set
    test_index = {r: np.sort(s["test"]) for r, s in enumerate(splits)}
    plan = make_plan(test_index, {r: labels[i] for r, i in test_index.items()}, B)
    preds = {}
    for t in study.get_trials(states=(TrialState.COMPLETE,)):
        ident = trial_identity(t)
        if ident.variant == "graphormer":
            part = trial_predictions(t.user_attrs)["test"]
            order = np.argsort(part.index)
            preds[(ident.split_repeat, ident.seed)] = (part.true[order, 0], part.pred[order, 0])
    per_split = np.zeros((repeats, B))
    for r in range(repeats):
        seed_draws = plan.seed_draws(r, (0, 1))  # which seeds resample b averages (with replacement)
        for b in range(B):
            idx = np.repeat(np.arange(len(test_index[r])), plan.weights[r][1 + b].astype(int))
            per_seed = [roc_auc_score(preds[(r, s)][0][idx], preds[(r, s)][1][idx]) for s in (0, 1)]
            per_split[r, b] = np.mean([per_seed[k] for k in seed_draws[b]])
    if repeats > 1:
        draws = plan.split_draws(tuple(range(repeats)))
        boot = np.array([per_split[draws[b], b].mean() for b in range(B)])
    else:
        boot = per_split[0]
    point = np.mean([np.mean([roc_auc_score(y, p) for (rr, _), (y, p) in preds.items() if rr == r])
                     for r in range(repeats)])
    est = row.test["auroc"]
    assert est.value == pytest.approx(point, abs=1e-9)
    assert (est.low, est.high) == pytest.approx(tuple(np.quantile(boot, [0.025, 0.975])), abs=1e-9)
    assert est.n_splits == repeats and est.n_cells == 2 * repeats
    # stratified: every resample keeps the class counts of the test set
    for r in range(repeats):
        w = plan.weights[r][1:]
        np.testing.assert_array_equal(w @ labels[test_index[r]], np.full(B, labels[test_index[r]].sum()))


def test_bounded_intervals_stay_in_range_and_identical_rows_differ_by_zero(url, tmp_path):
    labels = _labels(120)
    make_evidence_study(url, labels, random_splits(120, 1), variants=["gcn", "graphormer", "performer"],
                        signal={"gcn": 6.0, "graphormer": 0.05, "performer": 0.05},
                        same_predictions=("graphormer", "performer"))
    _, report = _report(url)
    for row in report.rows:
        for m in ("auroc", "auprc", "f1"):
            est = row.test[m]
            assert 0.0 <= est.low <= est.value <= est.high <= 1.0, (row.variant, m, est)
        assert -1.0 <= row.test["mcc"].low <= row.test["mcc"].high <= 1.0
    assert report.rows[0].test["auroc"].high <= 1.0 and report.rows[0].test["auroc"].value > 0.97
    same = report.rows[2].vs_previous  # performer vs graphormer: the same predictions
    assert same.diff == 0.0 and same.low == 0.0 and same.high == 0.0 and same.p == 1.0
    assert same.p_adjusted == 1.0
    # a near-chance model is flagged, the near-perfect one is not
    assert any("at chance" in f for f in report.rows[1].flags)
    assert not any("at chance" in f for f in report.rows[0].flags)


def test_holm_matches_statsmodels():
    from statsmodels.stats.multitest import multipletests

    p = [0.001, 0.2, 0.013, 0.04, 0.5, 0.0101, 0.03]
    expected = multipletests(p, method="holm")[1]
    assert holm(p) == pytest.approx(list(expected), abs=1e-12)
    # NaN (a comparison without pairs) is left out of the family
    assert holm([0.01, math.nan, 0.04])[0] == pytest.approx(0.02) and math.isnan(holm([0.01, math.nan])[1])


def test_weighted_metrics_equal_sklearn_on_materialised_resamples():
    from sklearn import metrics as skm

    from pepland_hpo.hpo.analysis import weighted_metrics

    rng = np.random.default_rng(0)
    n = 90
    y = (rng.random(n) < 0.5).astype(float)
    p = np.round(rng.random(n) * 0.6 + 0.3 * y, 2)  # rounded: ties on purpose
    idx = rng.integers(0, n, (6, n))
    W = np.zeros((6, n))
    np.add.at(W, (np.arange(6)[:, None], idx), 1)
    got = weighted_metrics("classification", y, p, W, threshold=0.55)
    yr = rng.normal(size=n)
    pr = np.round(yr + rng.normal(size=n), 1)
    reg = weighted_metrics("regression", yr, pr, W)
    for b in range(6):
        yy, pp = y[idx[b]], p[idx[b]]
        assert got["auroc"][b] == pytest.approx(skm.roc_auc_score(yy, pp))
        assert got["auprc"][b] == pytest.approx(skm.average_precision_score(yy, pp))
        assert got["mcc"][b] == pytest.approx(skm.matthews_corrcoef(yy, pp >= 0.55))
        assert got["f1"][b] == pytest.approx(skm.f1_score(yy, pp >= 0.55))
        ry, rp = yr[idx[b]], pr[idx[b]]
        assert reg["rmse"][b] == pytest.approx(np.sqrt(np.mean((ry - rp) ** 2)))
        assert reg["mae"][b] == pytest.approx(np.mean(np.abs(ry - rp)))
        assert reg["r2"][b] == pytest.approx(skm.r2_score(ry, rp))
        assert reg["spearman"][b] == pytest.approx(stats.spearmanr(ry, rp)[0])


def test_report_files_csv_and_holm_named(url, tmp_path):
    labels = _labels()
    make_evidence_study(url, labels, random_splits(len(labels), 2), seeds=(0,))
    report = build_report(url, "ev", out_dir=tmp_path / "o", reference=False)
    csv = pd.read_csv(tmp_path / "o" / "report.csv")
    assert list(csv["variant"]) == VARIANTS
    assert not {"tuned_params", "tuned_from"} & set(csv.columns)  # an untuned ablation's columns as before
    for m in ("auroc", "auprc", "mcc", "f1"):
        assert {f"test_{m}", f"test_{m}_ci_low", f"test_{m}_ci_high"} <= set(csv.columns)
    row = csv.set_index("variant").loc["performer"]
    assert row["n"] == 2 and row["n_splits"] == 2
    assert row["p_holm_vs_baseline"] >= row["p_vs_baseline"]
    assert "split0/seed0=" in row["per_run"] and "split1/seed0=" in row["per_run"]
    md = (tmp_path / "o" / "report.md").read_text()
    assert "Holm-adjusted" in md and "2 split(s) × 1 seed(s)" in md
    assert "still improving" in md  # gcn's best epoch is its last in the factory
    assert (tmp_path / "o" / "report.png").read_bytes()[:4] == b"\x89PNG"
    study = optuna.load_study(study_name="ev", storage=url)
    assert study.metric_names == ["val auroc"]  # the dashboard names the objective
    render_report(report, Console(record=True, width=200))


# --------------------------------------------------------------------------- old studies


def test_study_without_predictions_reports_seed_only(url, tmp_path):
    study = make_ablation_study(url, fail={("performer", 2): "error: RuntimeError: boom"})
    report = build_report(url, "abl", out_dir=tmp_path / "o", reference=False)
    assert isinstance(report, AblationReport) and report.evidence == "seeds"
    md = report.markdown
    assert "Intervals are seed-only" in md and "paired t-test over seeds" in md
    perf = next(r for r in report.rows if r.variant == "performer")
    assert (perf.n_done, perf.n_planned) == (2, 3)
    assert perf.failures == {"error: RuntimeError: boom": 1}
    # the old numbers, recomputed with scipy: t interval and paired t-test over seeds
    def raw(variant):
        return {t.user_attrs["seed"]: t.user_attrs["test_metrics"]["auroc"]
                for t in study.get_trials(states=(TrialState.COMPLETE,)) if t.user_attrs["variant"] == variant}
    vals = np.array(list(raw("graphormer").values()))
    lo, hi = stats.t.interval(0.95, len(vals) - 1, loc=vals.mean(), scale=stats.sem(vals))
    g = report.rows[1].test["auroc"]
    assert (g.value, g.low, g.high) == pytest.approx((vals.mean(), lo, hi))
    base, other = raw("gcn"), raw("performer")
    seeds = sorted(set(base) & set(other))
    p = stats.ttest_rel([other[s] for s in seeds], [base[s] for s in seeds]).pvalue
    assert perf.vs_baseline.p == pytest.approx(p) and perf.vs_baseline.n_cells == 2
    render_report(report, Console(record=True, width=200))


def test_metric_override_and_unknown_metric(url, tmp_path):
    from pepland_hpo.errors import UserInputError

    make_evidence_study(url, _labels(), random_splits(200, 1))
    report = build_report(url, "ev", out_dir=tmp_path / "o", metric="mcc", reference=False, publish=False)
    assert report.metric == "mcc" and report.second_metric is None
    with pytest.raises(UserInputError, match="aurooc"):
        build_report(url, "ev", out_dir=tmp_path / "o", metric="aurooc", reference=False, publish=False)


def test_stats_helpers_against_scipy():
    vals = [0.61, 0.64, 0.70, 0.66, 0.69, 0.63]
    s = summarize(vals + [float("nan")])  # a NaN seed (diverged model) is left out
    assert s.n == 6 and s.sd == pytest.approx(np.std(vals, ddof=1))
    other = [v + d for v, d in zip(vals, [0.02, 0.01, 0.03, 0.00, 0.04, 0.02])]
    r = paired_test(dict(enumerate(vals)), dict(enumerate(other)))
    assert r.p_ttest == pytest.approx(stats.ttest_rel(other, vals).pvalue)


# --------------------------------------------------------------------------- references


def test_reference_and_ensemble_rows_on_real_data(url, tmp_path, pepland_dir, write_slice):
    """ECFP4+HGB fitted on each split and seed; its interval is real; ⊕ is the mean of probabilities."""
    from rdkit import Chem
    from rdkit.Chem import rdFingerprintGenerator
    from sklearn.ensemble import HistGradientBoostingClassifier

    from pepland_hpo.data.dataset import load_dataset
    from pepland_hpo.hpo.analysis import REFERENCE_LABEL

    data = write_slice(pepland_dir / "c-CPP.txt", 160, header=False)
    ds = load_dataset(str(data), task="classification")
    y = np.asarray(ds.targets, dtype=float)[:, 0]
    splits = random_splits(len(ds), 2)
    study = make_evidence_study(url, y, splits, variants=["gcn", "graphormer"], seeds=(0,), data=str(data))
    study.set_user_attr("data_hash", ds.content_hash)
    study.set_user_attr("spec", {**study.user_attrs["spec"], "target": None})
    report = build_report(url, "ev", out_dir=tmp_path / "o")
    ref = report.reference
    assert ref is not None and ref.variant == REFERENCE_LABEL, report.reference_note
    assert ref.n_done == 2
    est = ref.test["auroc"]
    assert est.high - est.low > 0.01  # a real interval, not [x, x]
    # independent: RDKit + scikit-learn on all 2048 bits, split 1, seed 0
    gen = rdFingerprintGenerator.GetMorganGenerator(radius=2, fpSize=2048)
    X = np.array([gen.GetCountFingerprintAsNumPy(Chem.MolFromSmiles(s)) for s in ds.smiles], dtype=float)
    s1 = splits[1]
    model = HistGradientBoostingClassifier(random_state=0).fit(X[s1["train"]], y[s1["train"]].astype(int))
    p_ref = model.predict_proba(X[s1["test"]])[:, 1]
    assert ref.cells[(1, 0)]["auroc"] == pytest.approx(roc_auc_score(y[s1["test"]], p_ref), abs=1e-6)
    # the ensemble row: mean of the variant's stored probabilities and the reference's
    trial = next(t for t in study.get_trials() if trial_identity(t) == ("graphormer", 0, 1))
    part = trial_predictions(trial.user_attrs)["test"]
    assert part.index.tolist() == s1["test"]
    ens = next(r for r in report.ensembles if r.variant == "graphormer ⊕ reference")
    expect = roc_auc_score(y[s1["test"]], (part.pred[:, 0] + p_ref) / 2)
    assert ens.cells[(1, 0)]["auroc"] == pytest.approx(expect, abs=1e-6)
    assert ens.vs_reference is not None and math.isfinite(ens.vs_reference.p_adjusted)
    csv = pd.read_csv(tmp_path / "o" / "report.csv")
    assert csv["kind"].tolist() == ["variant", "variant", "reference", "reference", "ensemble", "ensemble"]
    # the second reference: residue composition (20 counts, non-canonical, length) + the same boosting
    from pepland_hpo.data.composition import composition_features
    from pepland_hpo.hpo.analysis import REFERENCES

    (comp,) = [r for r in report.references if r.variant == REFERENCES["composition"].label]
    Xc = composition_features(list(ds.smiles))
    model_c = HistGradientBoostingClassifier(random_state=0).fit(Xc[s1["train"]], y[s1["train"]].astype(int))
    expect_c = roc_auc_score(y[s1["test"]], model_c.predict_proba(Xc[s1["test"]])[:, 1])
    assert comp.cells[(1, 0)]["auroc"] == pytest.approx(expect_c, abs=1e-6)
    assert "Complementarity" in report.markdown and "0 molecules shared" in report.markdown
    again = build_report(url, "ev", out_dir=tmp_path / "o2")
    assert "2/2 run(s) from cache" in again.reference_note
    assert again.reference.test["auroc"].value == pytest.approx(est.value)


def test_search_report_writes_plotly_and_retrain_command(url, tmp_path):
    study = optuna.create_study(study_name="srch", storage=url, direction="maximize",
                                sampler=optuna.samplers.RandomSampler(seed=0))
    spec = {"kind": "search", "name": "srch", "data": "peptides.csv", "target": "label", "task": "classification",
            "metric": "auroc", "direction": "maximize", "variants": ["full"], "seeds": [0],
            "split": {"kind": "random", "fractions": [0.8, 0.1, 0.1], "seed": 0},
            "settings": {"epochs": 5, "fault": "oom"}}
    study.set_user_attr("kind", "search")
    study.set_user_attr("spec", spec)

    def objective(trial):
        h = trial.suggest_categorical("hidden_dim", [32, 64])
        lr = trial.suggest_categorical("lr", [1e-4, 1e-3])
        for epoch in range(3):
            trial.report(0.5 + h / 1000 + lr * 10 * epoch, epoch)
        trial.set_user_attr("test_metrics", {"auroc": 0.6})
        return 0.5 + h / 1000 + lr * 20

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=6)
    report = build_report(url, "srch", out_dir=tmp_path / "s")
    assert isinstance(report, SearchReport)
    assert report.best_number == study.best_trial.number
    assert report.best_params == study.best_params
    assert set(report.importances) == {"hidden_dim", "lr"}
    for name in ("history.html", "intermediate.html", "report.md", "report.csv"):
        assert (tmp_path / "s" / name).stat().st_size > 0
    cmd = report.retrain_command
    assert cmd.startswith("pepland-hpo train --data peptides.csv --target label")
    assert "--variant full" in cmd and f"--set hidden_dim={study.best_params['hidden_dim']}" in cmd
    assert "--set epochs=5" in cmd and "fault" not in cmd
    assert cmd in report.markdown
    render_report(report, Console(record=True, width=200))


def test_export_summarises_predictions_and_reads_identity(url, tmp_path):
    from pepland_hpo.hpo.services import export_trials

    make_evidence_study(url, _labels(), random_splits(200, 2), variants=["gcn"], seeds=(0,))
    assert export_trials(url, "ev", tmp_path / "t.csv") == 2
    frame = pd.read_csv(tmp_path / "t.csv")
    assert frame["predictions"].tolist() == ["valid 40, test 40"] * 2
    assert frame["split_repeat"].tolist() == [0, 1] and set(frame["variant"]) == {"gcn"}
    assert not any(c.startswith("predictions.") for c in frame.columns)


def test_threshold_chosen_on_validation_rescues_an_uncalibrated_model():
    from sklearn.metrics import matthews_corrcoef

    from pepland_hpo.hpo.analysis import best_threshold

    rng = np.random.default_rng(3)
    y = (rng.random(300) < 0.5).astype(float)
    p = 0.02 + 0.2 * y * rng.random(300) + 0.05 * rng.random(300)  # ranks well, all below 0.5
    assert matthews_corrcoef(y, p >= 0.5) == 0.0
    t = best_threshold(y, p)
    assert t < 0.5 and matthews_corrcoef(y, p >= t) > 0.5
    assert matthews_corrcoef(y, p >= t) == pytest.approx(
        max(matthews_corrcoef(y, p >= c) for c in np.unique(p)), abs=1e-12)


def test_ensemble_parts_mean_probabilities_and_standardised_regression():
    from pepland_hpo.hpo.analysis import Part
    from pepland_hpo.hpo.analysis._ablation import _ensemble_parts

    rng = np.random.default_rng(0)
    idx = np.array([5, 2, 9, 7])
    y = rng.random((4, 1))

    def parts(pred, order):
        return {k: Part(index=idx[order], true=y[order], pred=pred[order]) for k in ("valid", "test")}

    a, b = rng.random((4, 1)), rng.random((4, 1))
    ens = _ensemble_parts("classification", parts(a, [0, 1, 2, 3]), parts(b, [3, 2, 1, 0]))  # any row order
    order = np.argsort(idx)
    np.testing.assert_allclose(ens["test"].pred, ((a + b) / 2)[order])
    assert ens["test"].index.tolist() == sorted(idx.tolist())
    # regression: b on another scale (2a + 1) standardises to a's ranking; identical models give themselves
    same = _ensemble_parts("regression", parts(a, [0, 1, 2, 3]), parts(a, [0, 1, 2, 3]))
    np.testing.assert_allclose(same["test"].pred, a[order], atol=1e-9)
    scaled = _ensemble_parts("regression", parts(a, [0, 1, 2, 3]), parts(2 * a + 1, [0, 1, 2, 3]))
    assert np.argsort(scaled["test"].pred[:, 0]).tolist() == np.argsort(a[order][:, 0]).tolist()


def test_regression_study_reports_rmse_r2_spearman_with_intervals(url, tmp_path):
    from sklearn.metrics import mean_squared_error

    y = np.random.default_rng(5).normal(size=150)
    study = make_evidence_study(url, y, random_splits(150, 1), variants=["gcn", "graphormer"], seeds=(0, 1),
                                signal={"gcn": 0.7, "graphormer": 3.0}, task="regression")
    report = build_report(url, "ev", out_dir=tmp_path / "o", reference=False, publish=False)
    assert report.metric == "rmse" and report.second_metric == "r2" and report.evidence == "molecules"
    g = report.rows[1]
    for m in ("rmse", "mae", "r2", "spearman"):
        assert math.isfinite(g.test[m].low) and g.test[m].low <= g.test[m].value <= g.test[m].high
    # point value: the mean over seeds of each run's RMSE on the full test set
    runs = [trial_predictions(t.user_attrs)["test"] for t in study.get_trials() if trial_identity(t).variant == "graphormer"]
    expect = np.mean([math.sqrt(mean_squared_error(p.true[:, 0], p.pred[:, 0])) for p in runs])
    assert g.test["rmse"].value == pytest.approx(expect, abs=1e-5)
    # lower RMSE is better: graphormer (less noise) beats gcn significantly
    assert g.vs_baseline.diff < 0 and g.vs_baseline.p_adjusted < 0.05
    assert "graphormer" in report.markdown.split("Significantly better than `gcn`:")[1].split("\n")[0]
