"""The `stratsearch` command line. Bad input → a plain message and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from stratsearch import files
from stratsearch.ensemble.methods import METHODS
from stratsearch.errors import StratsearchError
from stratsearch.rundir import RunDir
from stratsearch.tasks import TASKS

# Heavy libraries (torch, Ray, Optuna, pandas) are imported by the commands that use them, so
# that `--help` and `validate` start fast. soft_wrap: messages (paths, key lists) stay on one
# line however narrow the terminal or pipe.
console = Console(stderr=True, soft_wrap=True)


def cmd_train(args: argparse.Namespace) -> int:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    from stratsearch.prepare import prepare, save_run
    from stratsearch.sweep.validate import validate
    from stratsearch.train.trainer import EpochMetrics, pick_device, train

    device = pick_device(args.device)  # a wrong --device fails before the data are read
    prepared = prepare(validate(args.config))
    warn(prepared.spec.warnings)
    run, model_path, data = prepared.spec, prepared.model_path, prepared.data
    console.print(
        f"[bold]{run.name}[/]: {run.task} on {len(data.train)} train / {len(data.validation)} validation"
        f"{f' / {len(data.test)} test' if data.test else ''} examples, model {run.model}, device {device}"
    )

    metric_names = None
    table = Table(title=f"{run.name} — objective {run.objective.metric} ({run.objective.mode})")

    def report(m: EpochMetrics) -> None:
        nonlocal metric_names
        if metric_names is None:
            metric_names = list(m.validation)
            for col in ["epoch", "train loss", *metric_names, "seconds"]:
                table.add_column(col, justify="right")
        marker = " *" if m.is_best else ""
        values = [f"{m.validation[k]:.4f}" for k in metric_names]
        table.add_row(f"{m.epoch}{marker}", f"{m.train_loss:.4f}", *values, f"{m.seconds:.1f}")
        progress.console.print(
            f"epoch {m.epoch}: loss {m.train_loss:.4f} "
            + " ".join(f"{k} {v:.4f}" for k, v in m.validation.items())
            + f" ({m.seconds:.1f}s){marker}"
        )

    columns = [TextColumn("training"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn()]
    with Progress(*columns, console=console, transient=True) as progress:
        task_id = progress.add_task("train", total=None)
        result = train(
            model_path,
            data,
            prepared.trial,
            run.objective,
            report=report,
            progress=lambda step, total: progress.update(task_id, completed=step, total=total),
            device=device,
        )
    console.print(table)
    best = result.best
    line = f"best epoch {best.epoch}: validation {run.objective.metric} {best.validation[run.objective.metric]:.4f}"
    if result.test_metrics:
        line += f"; test {run.objective.metric} {result.test_metrics[run.objective.metric]:.4f}"
    console.print(line + f"; {result.trainable_parameters:,} trainable parameters")
    if args.out:
        save_run(Path(args.out), run, prepared.trial, model_path, data, result)
        console.print(f"saved model and predictions to {args.out}")
    return 0


def cmd_validate(args: argparse.Namespace) -> int:
    from stratsearch.space.sampling import describe, grid_size
    from stratsearch.sweep.search import sampler_name
    from stratsearch.sweep.starts import plan_starts
    from stratsearch.sweep.validate import validate

    spec = validate(args.space)
    out = Console(soft_wrap=True, highlight=False, markup=False)  # values like ['a', 'b'] are not markup
    out.print(f"{spec.file}: valid", style="green")
    out.print(f"name {spec.name}; task {spec.task}; model {spec.model}")
    objectives = [spec.objective, *spec.secondary]
    out.print("objective: " + ", ".join(f"{o.mode} {o.metric}" for o in objectives))
    budget = spec.budget
    out.print(
        f"budget: {budget.trials} trials, max_epochs {budget.max_epochs or 'from space'}, "
        f"time {budget.time or 'unlimited'}; search: {spec.search.sampler} sampler, {spec.search.pruner} pruner, "
        f"seed {spec.search.seed}; ensemble: top {spec.ensemble.top_k}, {spec.ensemble.method}"
    )
    out.print("space:")
    for line in describe(spec.space):
        out.print(line)
    size = grid_size(spec.space)
    searched = spec.searched()
    out.print(f"{len(searched)} searched dimension(s): {', '.join(searched) or 'none (a single training run)'}")
    out.print(f"grid size: {size:,}" if size is not None else "grid size: infinite (continuous dimensions)")
    starts = plan_starts(spec)
    out.print(
        f"first: {len(spec.baselines)} baseline(s), then {len(starts.trials)} portfolio/warm-start trial(s);"
        f" then the {sampler_name(spec)} sampler"
    )
    for note in starts.notes:
        out.print(f"  {note}")
    confirm = spec.confirm
    if confirm.seeds and not spec.secondary:
        out.print(f"last: the best {confirm.top_k} strategies and the baseline again on {confirm.seeds} fresh seeds")
    else:
        out.print("last: no confirmation over seeds")
    out.print("data:")
    for line in spec.data_summary:
        out.print(f"  {line}")
    warn(spec.warnings, out)
    return 0


def warn(warnings: list, out: Console = console) -> None:
    """What loading a space found odd but not fatal: the run goes on, the user should know."""
    for warning in warnings:
        out.print(Text("warning: ", style="yellow") + Text(str(warning)), highlight=False)


def cmd_run(args: argparse.Namespace) -> int:
    from stratsearch.sweep.driver import run_sweep
    from stratsearch.sweep.validate import validate

    spec = validate(args.space)
    warn(spec.warnings)
    mlflow_uri = tracking_of(spec, args.mlflow)
    run_dir = run_sweep(
        spec,
        Path(args.runs_dir),
        address=args.address,
        quiet=args.quiet,
        node_ip_address=args.node_ip_address,
        resume_changed=args.resume_changed,
        mlflow_uri=mlflow_uri,
    )
    return summarize_run(spec, run_dir, Path(args.reports_dir), mlflow_uri)


def cmd_confirm(args: argparse.Namespace) -> int:
    from stratsearch.rundir import read_json
    from stratsearch.space.load import Confirm
    from stratsearch.sweep.driver import run_sweep
    from stratsearch.sweep.validate import validate

    run_dir = RunDir(Path(args.run_dir))
    space = Path(args.space) if args.space else run_dir.info().space_file
    if space is None or not space.is_file():
        raise StratsearchError(
            f"{run_dir}: the space file that made this run is not at {space}; pass it with --space PATH"
        )
    spec = validate(space)
    if spec.name != run_dir.path.name:
        raise StratsearchError(f"--space {space}: its name '{spec.name}' is not this run's ('{run_dir.path.name}')")
    recorded = read_json(run_dir.confirm_json)  # what an earlier confirmation of this run asked for
    confirm = Confirm(
        top_k=args.top_k or recorded.get("top_k") or spec.confirm.top_k,
        # what was asked, not what the time left allowed (`asked`, recorded when fewer ran)
        seeds=args.seeds or recorded.get("asked") or recorded.get("seeds") or spec.confirm.seeds or Confirm().seeds,
    )
    run_sweep(spec, run_dir.path.parent, confirm_only=confirm)
    return summarize_run(spec, run_dir, Path(args.reports_dir), None)


FAILED_SHOWN = 5


def summarize_run(spec: Any, run_dir: RunDir, reports_dir: Path, mlflow_uri: str | None) -> int:
    """After `run` or `confirm`: the trial counts, the best trial, the ensemble, and the report."""
    from collections import Counter

    from stratsearch.choice import choose, current_ensemble

    statuses = run_dir.statuses()
    counts = Counter(s.status for _, s in statuses if s.status != "interrupted")
    trials = sum(counts.values())
    console.print(f"{trials} trials in {run_dir}: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    console.print(f"results: {run_dir.results_csv}; Optuna study: {run_dir.study_path}", markup=False)
    failed = [(r.number, s.reason) for r, s in statuses if s.status == "failed"]
    for number, reason in failed[:FAILED_SHOWN]:  # the traceback: runs/NAME/tune/<trial>/error.txt
        console.print(f"  trial {number} failed: {reason}", markup=False, highlight=False)
    if len(failed) > FAILED_SHOWN:
        console.print(f"  … and {len(failed) - FAILED_SHOWN} more (results.csv, column reason)", markup=False)
    choice = choose(run_dir, spec.objective)
    ensemble = current_ensemble(run_dir, choice)
    if ensemble is not None:
        print_ensemble(ensemble)
    if trials:
        from stratsearch.report.build import report_document, write
        from stratsearch.report.view import load_run

        view = load_run(run_dir.path)
        document = report_document(view)
        html, md = write(document, reports_dir / f"{spec.name}.html")
        print_confirmation(view)
        for paragraph in document.sections[0].blocks:  # the verdict
            console.print(Text("verdict: ", style="bold") + Text(paragraph.text))
        console.print(f"report: {html}", markup=False)
        if mlflow_uri:
            from stratsearch.sweep.tracking import MlflowTracker

            tracker = MlflowTracker(mlflow_uri, run_dir, spec.name, Path(spec.file))
            tracker.finish([html, md, run_dir.results_csv, run_dir.ensemble_dir / "table.csv"])
            console.print(f"MLflow: experiment '{spec.name}' at {mlflow_uri}", markup=False)
        if not any(s.scored for _, s in statuses):  # never report success when nothing worked
            console.print("no trial produced a result: the reasons are in the report (Failed trials)", markup=False)
            return 1
    if choice.strategy is not None and ensemble is None:  # its error was said as it failed
        console.print(f"the ensemble was not built: retry with `stratsearch ensemble {run_dir}`", markup=False)
        return 1
    return 0


def print_confirmation(view: Any) -> None:
    """The confirmation's candidates on the console (the report adds the strategies and intervals)."""
    from stratsearch.report.confirmation import fate, label

    confirmation = view.confirmation
    if confirmation is None:
        return
    winner = view.choice.winner if view.choice else None
    table = Table(title=f"confirmation over fresh seeds — validation {view.metric}, then test (mean ± sd)")
    for name in ("candidate", "search", "fresh val", "fresh test", "seeds", ""):
        table.add_column(name, justify="left" if name in ("candidate", "") else "right")
    for c in confirmation.candidates:
        search = c.values().get(0)
        cells = [
            (f"{i.mean:.4f}" + ("" if i.sd is None else f" ± {i.sd:.4f}")) if i.n else ""
            for i in (c.fresh(), c.fresh("test"))
        ]
        row = [
            label(c),
            "" if search is None else f"{search:.4f}",
            *cells,
            str(c.fresh().n),
            fate(confirmation, c, winner),
        ]
        table.add_row(*(Text(cell) for cell in row))
    console.print(table)


def tracking_of(spec: Any, flag: str | None) -> str | None:
    """The MLflow URI: --mlflow (a path relative to here) over the space's tracking.mlflow (relative to it)."""
    if not (flag or spec.tracking.mlflow):
        return None
    from stratsearch.sweep.tracking import missing_mlflow, tracking_uri

    if why := missing_mlflow():
        raise StratsearchError(f"--mlflow: {why}")
    return tracking_uri(flag, Path.cwd()) if flag else tracking_uri(spec.tracking.mlflow, spec.base_dir)


def print_ensemble(summary: dict) -> None:
    """The ensemble table: best single vs the mean of the singles vs each method, chosen one starred."""
    metric = summary["metric"]
    splits = [s for s in ("validation", "test") if f"{s}_{metric}" in summary["table"][0]]
    table = Table(title=f"ensemble of the top {len(summary['members'])} trials — {metric} ({summary['mode']})")
    # Δ test: the method's test figure minus the best single model's.
    for col in ["method", "members", *splits, *(["Δ test"] if "test" in splits else []), "note"]:
        text_column = col in ("method", "members", "note")
        note = col == "note"
        table.add_column(
            col, justify="left" if text_column else "right", no_wrap=not note, min_width=20 if note else None
        )
    best_test = summary["table"][0].get(f"test_{metric}")
    for row in summary["table"]:
        values = [row.get(f"{s}_{metric}") for s in splits]
        cells = ["" if v is None else f"{v:.4f}" for v in values]
        if "test" in splits:
            test = row.get(f"test_{metric}")
            cells.append("" if test is None or row["method"] == "best single" else f"{test - best_test:+.4f}")
        name = f"{row['method']} *" if row["chosen"] else row["method"]
        table.add_row(Text(name), Text(row["members"]), *cells, Text(row.get("note") or ""))
    console.print(table)
    if summary.get("left_out"):
        console.print(
            f"trial(s) {summary['left_out']} of the top {summary['top_k']} kept no model (a sweep keeps those of its"
            " top ensemble.top_k trials and of the confirmation's candidates): left out of the ensemble",
            markup=False,
        )
    line = f"chosen: {summary['method']}"
    if summary.get("fallback"):
        line += f" ({summary['fallback']})"
    console.print(line + "; `stratsearch predict` uses it", markup=False)


def cmd_ensemble(args: argparse.Namespace) -> int:
    from stratsearch.ensemble.methods import ensemble_run
    from stratsearch.prepare import tokenized_data

    run_dir = RunDir(Path(args.run_dir))
    info = run_dir.info()
    with run_dir.lock():
        data = tokenized_data(info.model_path, info.data, info.task)
        summary = ensemble_run(run_dir, data, info.objective, args.top_k or info.top_k, args.method or info.method)
    print_ensemble(summary)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from stratsearch.report.build import write_report

    html, md = write_report(Path(args.run_dir), Path(args.out) if args.out else None)
    console.print(f"report: {html} (and {md})", markup=False)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from stratsearch.report.build import write_compare

    html, md = write_compare([Path(d) for d in args.run_dirs], Path(args.out) if args.out else None)
    console.print(f"comparison: {html} (and {md})", markup=False)
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from stratsearch.ensemble.predict import predict_file

    run_dir = RunDir(Path(args.run_dir))
    info = run_dir.info()
    out = Path(args.out) if args.out else None
    recipe, rows, metrics = predict_file(run_dir, Path(args.input), info, args.best, out, args.device)
    console.print(f"{rows} predictions by the {recipe.description} → {out or 'stdout'}", markup=False)
    if metrics:
        console.print("on the input's labels: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items()), markup=False)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from stratsearch.export.hf import export_model

    exported = export_model(RunDir(Path(args.run_dir)), Path(args.out), args.trial)
    console.print("load it with:", markup=False)
    for line in exported.loading_lines():
        console.print(f"  {line}", markup=False)
    how = (
        "its head is defined in modeling_stratsearch.py beside the weights"
        if exported.remote_code
        else "a stock transformers class"
    )
    console.print(
        f"exported the {exported.source.description} to {exported.out} ({how}); model card in"
        f" {exported.out / 'README.md'}",
        markup=False,
    )
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from stratsearch.formats import check_encoding
    from stratsearch.space.scaffold import write_space

    out = Path(args.out)
    if out.exists() and not args.force:
        raise StratsearchError(f"{out} exists; choose another --out, or --force to replace it")
    if args.encoding is not None and (problem := check_encoding(args.encoding)):
        raise StratsearchError(f"--encoding: {problem}")
    found = write_space(Path(args.data), out, args.task, args.model, args.encoding)
    console.print(f"wrote {out} for {found.task} on {', '.join(str(p) for p in found.files.values())}", markup=False)
    for reason in found.reasons:
        console.print(f"  {reason}", markup=False)
    console.print(f"next: stratsearch validate {out}", markup=False)
    return 0


def positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, found '{text}'")
    return int(text)


WORKFLOW = """workflow:
  1. stratsearch validate space.yaml      check the space and its data, print the search space
  2. stratsearch run space.yaml           sweep (rerun the same command to resume after a crash)
  3. stratsearch report runs/NAME         the comparison report (run writes it too)
  4. stratsearch predict runs/NAME in.jsonl   predictions of the run's ensemble

stratsearch COMMAND --help shows each command's options and an example."""


def subcommand(sub: Any, name: str, fn: Any, summary: str, example: str) -> argparse.ArgumentParser:
    command = sub.add_parser(
        name,
        help=summary,
        description=summary,
        epilog=f"example:\n  {example}",
        formatter_class=argparse.RawTextHelpFormatter,
    )
    command.set_defaults(fn=fn)
    return command


def parser() -> argparse.ArgumentParser:
    from stratsearch import __version__

    p = argparse.ArgumentParser(
        prog="stratsearch",
        description="Search fine-tuning strategies for a pretrained transformer on your own labelled data.",
        epilog=WORKFLOW,
        formatter_class=argparse.RawTextHelpFormatter,
    )
    p.add_argument("--version", action="version", version=f"stratsearch {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    i = subcommand(
        sub,
        "init",
        cmd_init,
        "write a commented space.yaml for a data file (task and columns guessed, a validation split made)",
        "stratsearch init data/reviews.csv --out reviews.yaml",
    )
    i.add_argument(
        "data",
        help="a .jsonl, .csv, .tsv or .parquet file, a datasets folder (save_to_disk), or a folder with"
        " train/validation/test files",
    )
    i.add_argument("--encoding", help="the file's text encoding where it is not UTF-8 (cp1252, latin-1…)")
    i.add_argument("--task", choices=TASKS.names(), help="skip the guess")
    i.add_argument("--model", default="minilm-l6", help="minilm-l6 (default) or a local Hugging Face model directory")
    i.add_argument("--out", default="space.yaml", help="the space to write (default: space.yaml)")
    i.add_argument("--force", action="store_true", help="replace --out if it exists")
    v = subcommand(
        sub,
        "validate",
        cmd_validate,
        "check a space.yaml and its data; print the search space",
        "stratsearch validate search_spaces/quickstart.yaml",
    )
    v.add_argument("space", help="the space.yaml to check")
    r = subcommand(
        sub,
        "run",
        cmd_run,
        "run (or resume) the sweep of a space.yaml",
        "stratsearch run search_spaces/quickstart.yaml --runs-dir runs",
    )
    r.add_argument("space", help="the space.yaml to search")
    r.add_argument("--runs-dir", default="runs", help="where run directories live (default: runs/)")
    r.add_argument("--address", help="attach to a Ray cluster: 'auto' or ray://host:port (default: embedded Ray)")
    r.add_argument("--node-ip-address", help="this machine's address in the cluster (127.0.0.1 for one machine)")
    r.add_argument("--quiet", action="store_true", help="log lines instead of a live table")
    r.add_argument("--reports-dir", default="reports", help="where the report is written (default: reports/)")
    r.add_argument(
        "--mlflow", metavar="URI", help="log the sweep to MLflow (a tracking URI, or a path for a local store)"
    )
    r.add_argument(
        "--resume-changed",
        action="store_true",
        help="add trials to a run directory although its model, data, space or search changed",
    )
    c = subcommand(
        sub,
        "confirm",
        cmd_confirm,
        "run or extend the confirmation over seeds of a finished run (more candidates, more seeds)",
        "stratsearch confirm runs/quickstart --top-k 3 --seeds 5",
    )
    c.add_argument("run_dir", help="a run directory (runs/NAME)")
    c.add_argument("--top-k", type=positive_int, help="searched strategies to confirm (default: the space's confirm)")
    c.add_argument("--seeds", type=positive_int, help="fresh seeds per candidate, in all (default: the space's, or 3)")
    c.add_argument("--space", help="the space file of the run (default: the one run.json names)")
    c.add_argument("--reports-dir", default="reports", help="where the report is written (default: reports/)")
    rp = subcommand(
        sub,
        "report",
        cmd_report,
        "(re)build the comparison report of a run (HTML and Markdown)",
        "stratsearch report runs/quickstart --out reports/quickstart.html",
    )
    rp.add_argument("run_dir", help="a run directory (runs/NAME)")
    rp.add_argument("--out", help="the HTML file to write; the .md twin goes beside it (default: reports/NAME.html)")
    cp = subcommand(
        sub,
        "compare",
        cmd_compare,
        "leaderboards and findings of several runs side by side",
        "stratsearch compare runs/rt runs/trec --out reports/rt-vs-trec.html",
    )
    cp.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run directories (runs/NAME)")
    cp.add_argument("--out", help="the HTML file to write (default: reports/compare-A-vs-B.html)")
    e = subcommand(
        sub,
        "ensemble",
        cmd_ensemble,
        "(re)build the ensemble of a run's top-k trials",
        "stratsearch ensemble runs/quickstart --top-k 3 --method mean",
    )
    e.add_argument("run_dir", help="a run directory (runs/NAME)")
    e.add_argument("--top-k", type=positive_int, help="how many of the best finished trials (default: the space's)")
    e.add_argument("--method", choices=METHODS.names(), help="the method predict uses (default: the space's)")
    pr = subcommand(
        sub,
        "predict",
        cmd_predict,
        "predict a file with a run's ensemble (or its best model)",
        "stratsearch predict runs/quickstart new.jsonl --out predictions.jsonl",
    )
    pr.add_argument("run_dir", help="a run directory (runs/NAME)")
    pr.add_argument(
        "input", help="a .jsonl, .csv, .tsv or .parquet file, or a datasets folder, with the run's input column(s)"
    )
    pr.add_argument("--best", action="store_true", help="use the single best model instead of the ensemble")
    pr.add_argument("--out", help="write predictions here (.jsonl or .csv; default: JSON lines on stdout)")
    pr.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    x = subcommand(
        sub,
        "export",
        cmd_export,
        "the run's chosen model (or --trial N) as a Hugging Face model directory with a model card",
        "stratsearch export runs/quickstart exported/quickstart",
    )
    x.add_argument("run_dir", help="a run directory (runs/NAME)")
    x.add_argument("out", help="the directory to write")
    x.add_argument("--trial", type=int, help="export this trial's model instead of the run's chosen one")
    t = subcommand(
        sub,
        "train",
        cmd_train,
        "train one fixed strategy and print per-epoch metrics",
        "stratsearch train search_spaces/quickstart-single.yaml --out runs/single",
    )
    t.add_argument("config", help="YAML config with fixed values (the keys of a search space)")
    t.add_argument("--out", help="directory to save the model (save_pretrained + head) and predictions")
    t.add_argument("--device", help="cpu or cuda (default: cuda when available)")
    return p


def full_disk_error(err: Exception) -> StratsearchError:
    """What to do about a full disk, sized by the run directory the failed write was in."""
    filename = getattr(err, "filename", None)
    where = Path(filename or ".").resolve()
    why = f"could not write {filename}" if filename else files.full_disk_line(err)
    run = RunDir.enclosing(where)
    if run is None:
        return StratsearchError(f"disk full: {why}; free some space, then rerun the same command")
    return run.disk_full(why)


def main(argv: list[str] | None = None) -> int:
    commands = parser()
    args = commands.parse_args(argv)
    if args.command is None:  # no command: what the tool does and how to start
        commands.print_help(sys.stderr)
        return 2
    try:
        return args.fn(args)
    except StratsearchError as err:
        # Messages quote user values such as ['a', 'b']: print them as plain text, not rich markup.
        console.print(Text("error: ", style="red") + Text(str(err)), highlight=False)
        return 2
    except Exception as err:  # a full disk, found by whatever wrote last (ours, SQLite's, Ray's)
        if not files.disk_full(err):
            raise
        console.print(Text("error: ", style="red") + Text(str(full_disk_error(err))), highlight=False)
        return 2
    except KeyboardInterrupt:
        console.print("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
