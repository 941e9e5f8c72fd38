"""The comparison report, built from synthetic run directories whose trials have known values:
freeze depth is made to matter (each frozen layer costs 5 points, and saves training time and
drift; the layers above the frozen ones drift evenly up to the top), dropout narrows the
train/validation gap, the rest is noise."""

from __future__ import annotations

import math
import random
import re
import shutil
import subprocess
from pathlib import Path

import optuna
import pytest
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution
from optuna.trial import create_trial

from stratsearch.cli import main
from stratsearch.objective import Objective
from stratsearch.report.build import leaderboard, report_document
from stratsearch.report.claims import (
    FULL_VS_PARTIAL,
    NOT_TESTED,
    REGULARISATION,
    against_least,
    claims,
    depth,
    drift_by_layer,
    whole_layers,
)
from stratsearch.report.confirmation import verdict, winners_curse
from stratsearch.report.document import to_html
from stratsearch.report.findings import findings
from stratsearch.report.importance import param_importance
from stratsearch.report.tradeoffs import front_words, fronts
from stratsearch.report.view import load_run
from stratsearch.rundir import LAYOUT, RunDir, TrialRecord, read_json, write_json

DIMS = {
    "freeze_depth": IntDistribution(0, 6),
    "optimizer.adamw.lr": FloatDistribution(1e-5, 1e-3, log=True),
    "schedule": CategoricalDistribution(["linear", "cosine"]),
}


def config_of(params: dict, dropout: float = 0.1) -> dict:
    return {
        "epochs": 3,
        "dropout": dropout,
        "freeze_depth": params["freeze_depth"],
        "optimizer": {"adamw": {"lr": params["optimizer.adamw.lr"]}},
        "schedule": {params["schedule"]: {}},
        "head": {"hidden": 0, "pooling": "cls"},
        "loss": {"cross_entropy": {}},
    }


def synthetic_run(root: Path, name: str, trials: int = 20, seed: int = 0, flat: bool = False) -> Path:
    """A run directory as a sweep leaves it: run.json, study.db, trial folders, an ensemble.
    `flat`: every trial scores the same (a degenerate sweep)."""
    rng = random.Random(seed)
    run_dir = root / name
    run_dir.mkdir(parents=True)
    write_json(
        run_dir / "run.json",
        {
            "name": name,
            "task": "classification",
            "model": "minilm-l6",
            "model_path": "/nonexistent/model",
            "data": {"train": "/data/train.jsonl", "validation": "/data/validation.jsonl"},
            "sizes": {"train": 500, "validation": 200, "test": 200},
            "metric": "accuracy",
            "mode": "max",
            "labels": ["neg", "pos"],
            "top_k": 3,
            "method": "greedy",
            "budget": {"trials": trials, "time": "1h"},
            "search": {"sampler": "random", "pruner": "asha"},
        },
    )
    write_json(run_dir / "sweep.json", {"elapsed_s": 1800.0})
    study = optuna.create_study(study_name=name, storage=f"sqlite:///{run_dir / 'study.db'}", direction="maximize")
    baseline = {"freeze_depth": 0, "optimizer.adamw.lr": 5e-5, "schedule": "linear"}
    for number in range(trials):
        is_baseline = number == 0
        params = (
            baseline
            if is_baseline
            else {
                "freeze_depth": rng.choice([0, 0, 1, 2, 3, 4, 5, 6]),  # full fine-tuning twice as often
                "optimizer.adamw.lr": math.exp(rng.uniform(math.log(1e-5), math.log(1e-3))),
                "schedule": rng.choice(["linear", "cosine"]),
            }
        )
        value = 0.5 if flat else 0.90 - 0.05 * params["freeze_depth"] + rng.uniform(-0.01, 0.01)
        pruned = not is_baseline and number % 3 == 0
        failed = number == trials - 1
        study.add_trial(
            create_trial(
                params={} if is_baseline else params,
                distributions={} if is_baseline else DIMS,
                value=None if failed else value,
                state=optuna.trial.TrialState.FAIL if failed else optuna.trial.TrialState.COMPLETE,
                user_attrs={"baseline": 0} if is_baseline else {},
            )
        )
        dropout = 0.1 if is_baseline else rng.choice([0.0, 0.3])
        record = TrialRecord(run_dir, number)
        record.start(config_of(params, dropout), {} if is_baseline else params, 0 if is_baseline else None)
        if failed:
            record.finish("failed", reason="out of memory: CUDA out of memory")
            continue
        epochs = 1 if pruned else 3
        frozen = params["freeze_depth"]
        per_epoch = 1.0 + 4.0 * (6 - frozen) + rng.uniform(-0.2, 0.2)  # seconds: frozen layers train for free
        curve = [value - 0.02 * (epochs - e) for e in range(1, epochs + 1)]
        for epoch, v in enumerate(curve, start=1):
            row = {"epoch": epoch, "train_loss": 0.5, "seconds": 10.0, "accuracy": v}
            record.epoch(row, v, epoch, [v], train_seconds=per_epoch * epoch)
        extra = {} if pruned else {"test": {"accuracy": value - 0.01}, "best_value": value}
        if not pruned and not flat:
            gap = (0.12 if dropout == 0 else 0.03) + rng.uniform(-0.01, 0.01)
            drift = 0.05 * (6 - frozen) + rng.uniform(0, 0.01) * (frozen < 6)  # nothing trained: no drift
            cka = [1.0 - drift * max(0, layer - frozen) / max(1, 6 - frozen) for layer in range(7)]
            extra |= {"drift": drift, "cka": cka, "train_metrics": {"accuracy": value + gap}}
        record.finish("pruned" if pruned else "finished", trainable_parameters=1000 * (7 - frozen), **extra)
    return run_dir


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    return synthetic_run(tmp_path / "runs", "synthetic")


def test_leaderboard_is_ordered_by_validation_value(run_dir: Path) -> None:
    view = load_run(run_dir)
    values = {t.number: t.value for t in view.scored()}
    expected = sorted(values, key=lambda n: -values[n])[:10]
    rows = leaderboard(view).rows
    assert [int(row[1].split()[0]) for row in rows] == expected
    assert rows[0][2].startswith("AdamW") and "freeze 0" in rows[0][2]
    assert rows[0][4] == f"{values[expected[0]]:.4f}"


def test_the_dimension_made_to_matter_ranks_first_and_is_found(run_dir: Path) -> None:
    view = load_run(run_dir)
    importance = param_importance(view)
    assert next(iter(importance.values)) == "freeze_depth"
    assert importance.values["freeze_depth"] > 0.5
    texts = [f.text for f in findings(view, importance.values)]
    freeze = next(t for t in texts if t.startswith("freeze_depth"))
    assert re.match(r"freeze_depth ≥ \d scored [\d.]+ points lower accuracy than freeze_depth < \d on average", freeze)
    schedule = next(t for t in texts if t.startswith("schedule"))
    assert "within noise" in schedule
    assert any("1 trial(s) failed: out of memory (1)" in t for t in texts)
    assert any(t.startswith("Pruning stopped 6 of 19 trials early") for t in texts)


def test_report_files_are_self_contained_and_twinned(run_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "synthetic.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    html = out.read_text()
    assert "data:image/png;base64," in html
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", html)  # nothing fetched from a network
    assert "<script" not in html
    md = out.with_suffix(".md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", md)
    assert images and all((out.parent / image).is_file() for image in images)
    for section in ("Summary", "Findings", "Leaderboard", "What mattered", "How the search went", "Failed trials"):
        assert f"<h2>{section}</h2>" in html and f"## {section}" in md


def test_compare_sets_runs_side_by_side(tmp_path: Path) -> None:
    a = synthetic_run(tmp_path / "runs", "first", seed=1)
    b = synthetic_run(tmp_path / "runs", "second", trials=12, seed=2)
    out = tmp_path / "reports" / "cmp.html"
    assert main(["compare", str(a), str(b), "--out", str(out)]) == 0
    html = out.read_text()
    assert "<h3>first</h3>" in html and "<h3>second</h3>" in html
    assert "12 of 12 search trials" in html and "20 of 20 search trials" in html


def test_a_sweep_whose_trials_all_score_the_same_gets_a_report(tmp_path: Path) -> None:
    """fANOVA cannot split a constant objective; the report says so instead of failing the run."""
    run_dir = synthetic_run(tmp_path / "runs", "flat", flat=True)
    importance = param_importance(load_run(run_dir))
    assert importance.values == {} and "every sampled trial scored the same" in importance.note
    out = tmp_path / "reports" / "flat.html"
    assert main(["report", str(run_dir), "--out", str(out)]) == 0
    html = out.read_text()
    assert "every sampled trial scored the same" in html
    assert "could not tell the strategies apart, so there is no winner" in html and "scored best" not in html


def test_report_of_a_folder_that_is_not_a_run_exits_2(tmp_path: Path, capsys) -> None:
    assert main(["report", str(tmp_path)]) == 2
    assert "not a run directory" in capsys.readouterr().err


CHECK_PAGE = """
<script>
window.__errors = [];
window.addEventListener("error", e => window.__errors.push(e.message || ("failed to load " + e.target.src)), true);
const consoleError = console.error;
console.error = (...args) => { window.__errors.push(args.join(" ")); consoleError(...args); };
window.addEventListener("load", () => {
  const broken = [...document.images].filter(img => !img.complete || img.naturalWidth === 0).length;
  document.title = "CHECKED images=" + document.images.length + " broken=" + broken
    + " errors=" + window.__errors.length;
});
</script>
"""


@pytest.mark.skipif(shutil.which("chromium") is None, reason="Debian chromium is not installed")
def test_report_renders_in_headless_chromium(run_dir: Path, tmp_path: Path) -> None:
    """A copy of the report with a checking script added (the report itself has none)."""
    page = tmp_path / "checked.html"
    page.write_text(to_html(report_document(load_run(run_dir))).replace("<head>", "<head>" + CHECK_PAGE, 1))
    flags = ["chromium", "--headless", "--no-sandbox", "--disable-gpu", "--enable-logging=stderr", "--v=0"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True, timeout=120)
    title = re.search(r"<title>CHECKED images=(\d+) broken=(\d+) errors=(\d+)</title>", dom.stdout)
    assert title, dom.stderr[-2000:]
    images, broken, errors = map(int, title.groups())
    assert images >= 5 and broken == 0 and errors == 0
    shot = tmp_path / "report.png"
    subprocess.run([*flags, "--window-size=1280,3000", f"--screenshot={shot}", page.as_uri()], timeout=120)
    assert shot.stat().st_size > 50_000  # a rendered page with figures, not a blank one


def test_the_article_claims_are_tested_on_the_run(tmp_path: Path) -> None:
    """Freezing was made to cost accuracy and save time and drift; dropout to narrow the gap. (30
    trials: two finished a side at the deepest freeze, which drift is measured on.)"""
    verdicts = {c.said: c for c in claims(load_run(synthetic_run(tmp_path / "runs", "claims", trials=30)))}
    cost, drift, full = (verdicts[said] for said in FULL_VS_PARTIAL)
    assert cost.verdict == drift.verdict == full.verdict == "supported", verdicts
    assert re.match(r"freeze ≥ \d vs freeze 0$", cost.compared)  # full fine-tuning against partial
    assert "s/epoch" in cost.figures and "Welch p" in cost.figures
    dropout = verdicts[REGULARISATION.format(what="more dropout")]
    assert dropout.compared == "dropout ≥ 0.3 vs dropout 0" and dropout.verdict == "supported"
    assert not any("weight penalty" in said or "weight decay" in said for said in verdicts)  # not varied: no row


def test_a_claim_compares_the_least_against_the_trials_at_or_above_a_threshold(run_dir: Path) -> None:
    view = load_run(run_dir)
    split = against_least(whole_layers(view), depth, "freeze")
    threshold = int(split.label_a.removeprefix("freeze ≥ "))
    assert {depth(t) for t in split.b} == {0} and min(depth(t) for t in split.a) == threshold > 0
    between = [t for t in whole_layers(view) if 0 < depth(t) < threshold]
    assert between and not set(map(id, between)) & set(map(id, split.a + split.b))  # left out, not mixed in
    assert split.tries == len({depth(t) for t in whole_layers(view)} - {0})  # every threshold had 2 trials a side


def test_drift_by_layer_is_averaged_per_freeze_depth_and_drawn(run_dir: Path) -> None:
    view = load_run(run_dir)
    curves = drift_by_layer(view)
    assert list(curves) == ["training texts"]  # the synthetic run has no general-text probe
    for k, drift in curves["training texts"].items():
        finished = [t for t in view.scored() if t.config["freeze_depth"] == k and t.measured.drift is not None]
        assert drift[: k + 1] == pytest.approx([0.0] * (k + 1))  # the frozen layers and the embeddings
        assert drift[-1] == pytest.approx(sum(t.measured.drift for t in finished) / len(finished))
    assert 'alt="drift by layer, per freeze depth"' in to_html(report_document(view))


def test_claims_a_run_did_not_vary_are_not_tested(tmp_path: Path) -> None:
    run_dir = synthetic_run(tmp_path / "runs", "flat", flat=True)
    for trial in (run_dir / "trials").iterdir():  # every trial at freeze depth 2, dropout 0.1
        record = TrialRecord(run_dir, int(trial.name))
        stored = record.config()
        stored["config"] |= {"freeze_depth": 2, "dropout": 0.1}
        write_json(trial / "config.json", stored)
    said = {c.said: (c.figures, c.verdict) for c in claims(load_run(run_dir))}
    assert said[FULL_VS_PARTIAL[0]] == ("freeze depth was not varied", NOT_TESTED)
    assert said[REGULARISATION.format(what="more regularisation")] == ("no regularisation was varied", NOT_TESTED)


def test_the_fronts_name_the_trials_nothing_beats_on_both(run_dir: Path) -> None:
    view = load_run(run_dir)
    by_measure = {f.measure: f for f in fronts(view)}
    assert set(by_measure) == {"train_seconds", "drift"}
    drift = by_measure["drift"]
    assert all(t.status == "finished" for t, _, _ in drift.points)  # drift: finished trials only
    best = max(drift.points, key=lambda p: p[1])[0]
    least = min(drift.points, key=lambda p: p[2])[0]
    assert best in drift.front and least in drift.front
    for t, value, cost in drift.points:  # off the front: beaten on both by a trial on it
        beaten = any(f.value >= value and f.measured.drift <= cost and f is not t for f in drift.front)
        assert (t in drift.front) != beaten
    words = front_words(view, drift)
    assert f"to trial {best.number} (" in words and "beaten on both by one of them" in words
    html = to_html(report_document(view))
    assert "<h2>Trade-offs: cost and drift</h2>" in html and "<h2>The article&#x27;s claims, on this data</h2>" in html


def test_the_winner_s_curse_reads_the_metric_s_direction() -> None:
    rmse, accuracy = Objective(metric="rmse", mode="min"), Objective(metric="accuracy", mode="max")
    assert "overstated" in winners_curse(rmse, 0.30, 0.35)  # the search run's error was lower: it flattered
    assert "understated" in winners_curse(rmse, 0.35, 0.30)
    assert "overstated" in winners_curse(accuracy, 0.85, 0.80)


def test_a_confirmation_cut_before_any_fresh_seed_gives_no_confirmed_verdict(tmp_path: Path) -> None:
    path = synthetic_run(tmp_path / "runs", "cut")
    run_dir = RunDir(path)
    write_json(run_dir.confirm_json, {"candidates": [1, 0], "top_k": 1, "seeds": 2})
    for number, source in ((20, 1), (21, 0)):  # the time budget stopped both seed runs half way
        record = run_dir.trial(number)
        record.start(run_dir.trial(source).config()["config"], {}, None, "confirmation", confirms=source, round=1)
        record.epoch({"epoch": 1, "accuracy": 0.9}, 0.9, 1, [0.9])
        record.finish("stopped", pruned_at_epoch=1)
    words = " ".join(verdict(load_run(path)))
    assert "unconfirmed" in words and not words.startswith("Use trial")


def test_a_run_directory_of_an_older_layout_is_read_and_a_newer_one_refused(tmp_path: Path, capsys) -> None:
    run_dir = RunDir(synthetic_run(tmp_path, "old", trials=3))  # run.json as layout 1 wrote it: no version
    assert run_dir.info().layout == 1
    write_json(run_dir.run_json, {**read_json(run_dir.run_json), "layout": LAYOUT + 1})
    assert main(["report", str(run_dir.path)]) == 2
    said = capsys.readouterr().err
    assert "newer stratsearch" in said and f"layout {LAYOUT + 1}" in said and "upgrade" in said
