"""Which candidates a confirmation trains again, and what each has run, as the run directory says.

    runs/NAME/confirm.json   the candidates (their source trials), and the top k and seeds asked for

A confirmation run is an ordinary trial folder whose config.json says `"origin": "confirmation"`,
`"confirms": <source trial>` and `"round": r` (its seed is the source's + r); round 0 is the
source itself. The folders are the source of truth: what is owed, and which candidates racing
has dropped, is recomputed from them on every start, so a crash loses nothing and runs nothing
twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stratsearch.confirm.stats import Drop, Interval, interval, race
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir, read_json, write_json

CONFIRMATION = "confirmation"


@dataclass(frozen=True)
class SeedRun:
    trial: int
    round: int
    status: str
    validation: float | None
    test: float | None
    wall_s: float | None


@dataclass
class Candidate:
    source: int  # the search trial it confirms
    origin: str  # baseline, sampler, a portfolio member…
    config: dict[str, Any]  # the source's resolved trial config
    runs: dict[int, SeedRun] = field(default_factory=dict)  # round → its run (ended, or still running)

    def values(self, split: str = "validation", upto: int | None = None) -> dict[int, float]:
        """round → value, for the rounds that ended with one (up to round `upto`, when given)."""
        out = {}
        for r, run in self.runs.items():
            value = run.validation if split == "validation" else run.test
            if value is not None and (upto is None or r <= upto):
                out[r] = value
        return out

    def fresh(self, split: str = "validation") -> Interval:
        """Over the fresh seeds only: the search run was picked for scoring high, so it is left out."""
        return interval([v for r, v in self.values(split).items() if r > 0])

    def seed_config(self, round_: int) -> dict[str, Any]:
        return {**self.config, "seed": int(self.config.get("seed", 0)) + round_}


@dataclass
class Confirmation:
    candidates: list[Candidate]
    seeds: int
    objective: Objective
    baseline: int | None  # the source trial of the first baseline, when it is a candidate

    def by_source(self) -> dict[int, Candidate]:
        return {c.source: c for c in self.candidates}

    def dropped(self) -> dict[int, tuple[int, Drop]]:
        """Racing replayed round by round over the rounds every live candidate has ended:
        candidate → (the round after which it was dropped, why)."""
        out: dict[int, tuple[int, Drop]] = {}
        protected = {self.baseline} if self.baseline is not None else set()
        for r in range(self.seeds):  # after round r, before round r + 1
            alive = [c for c in self.candidates if c.source not in out]
            if any(r not in c.runs or c.runs[r].status == "running" for c in alive):
                break
            runs = {c.source: c.values(upto=r) for c in alive}
            _, drops = race(runs, self.objective.mode == "max", protected)
            out.update({d.candidate: (r, d) for d in drops})
        return out

    def owed(self) -> list[tuple[Candidate, int]]:
        """The runs the next round needs: the lowest round some live candidate has not run."""
        dropped = self.dropped()
        for r in range(1, self.seeds + 1):
            missing = [(c, r) for c in self.candidates if c.source not in dropped and r not in c.runs]
            if missing:
                return missing
        return []

    def saved_runs(self) -> int:
        """Seed runs racing saved: the rounds a dropped candidate did not run."""
        return sum(self.seeds - r for r, _ in self.dropped().values())

    def saved_seconds(self) -> float:
        """What those runs would have cost, at each dropped candidate's own mean run time."""
        by_source = self.by_source()
        saved = 0.0
        for source, (after, _) in self.dropped().items():
            walls = [run.wall_s for run in by_source[source].runs.values() if run.wall_s]
            saved += (self.seeds - after) * (sum(walls) / len(walls) if walls else 0.0)
        return saved

    def winner(self) -> Candidate | None:
        """The best mean over all its runs, the search run included (ties: the earlier trial)."""
        sign = 1 if self.objective.mode == "max" else -1
        scored = [c for c in self.candidates if c.values()]
        if not scored:
            return None
        return max(scored, key=lambda c: (sign * sum(c.values().values()) / len(c.values()), -c.source))


def comparable(config: dict[str, Any]) -> str:
    """A configuration apart from its seed: two trials that differ only there are the same strategy."""
    import json

    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True, default=str)


def pick_candidates(run_dir: RunDir, objective: Objective, top_k: int, already: list[int]) -> list[int]:
    """`already` kept in its order, then the best distinct search configurations up to `top_k`
    of them, then the first baseline if it is not among them (even pruned: it is the reference)."""
    # One pass over the folders: the reserve asks this every second while a timed search runs.
    configs = {r.number: (r, r.config()) for r in run_dir.ranked(objective, include_pruned=True)}
    scored = [(r, c) for r, c in configs.values() if c.get("origin") != CONFIRMATION]
    baseline = next((r.number for r, c in scored if c.get("baseline") == 0), None)
    ranked = [(r, c) for r, c in scored if r.status().status == "finished"]
    picked = list(already)
    seen = {
        comparable(configs[n][1]["config"] if n in configs else run_dir.trial(n).config()["config"]) for n in picked
    }
    searched = [n for n in picked if n != baseline]
    for record, config in ranked:
        key = comparable(config["config"])
        if len(searched) >= top_k:
            break
        if key not in seen:
            seen.add(key)
            picked.append(record.number)
            if record.number != baseline:
                searched.append(record.number)
    if baseline is not None and baseline not in picked:
        picked.append(baseline)
    return picked


def confirm_path(run_dir: RunDir) -> Any:
    return run_dir.path / "confirm.json"


def load_confirmation(run_dir: RunDir, objective: Objective) -> Confirmation | None:
    """The confirmation recorded in a run directory, with every run its folders hold; None if none started."""
    raw = read_json(confirm_path(run_dir))
    if not raw.get("candidates"):
        return None
    records = {r.number: (r, s) for r, s in run_dir.statuses()}
    candidates = {}
    for source in raw["candidates"]:
        record, status = records[source]
        config = record.config()
        candidates[source] = Candidate(source, config.get("origin") or "sampler", config["config"])
        candidates[source].runs[0] = seed_run(source, 0, status, objective)
    for number, (record, status) in records.items():
        config = record.config()
        source = config.get("confirms")
        if config.get("origin") != CONFIRMATION or source not in candidates or status.status == "interrupted":
            continue
        candidates[source].runs[config["round"]] = seed_run(number, config["round"], status, objective)
    baseline = next((s for s in raw["candidates"] if records[s][0].config().get("baseline") == 0), None)
    return Confirmation(list(candidates.values()), int(raw["seeds"]), objective, baseline)


def seed_run(number: int, round_: int, status: Any, objective: Objective) -> SeedRun:
    finished = status.status == "finished"
    return SeedRun(
        number,
        round_,
        status.status,
        status.best_value if finished else None,
        status.test_value(objective.metric) if finished else None,
        status.wall_s,
    )


def plan_confirmation(run_dir: RunDir, objective: Objective, top_k: int, seeds: int) -> Confirmation | None:
    """Start or extend the confirmation: more candidates (up to `top_k` searched ones) or more seeds
    are added; what already ran is kept. None when no search trial finished."""
    raw = read_json(confirm_path(run_dir))
    already = list(raw.get("candidates", []))
    candidates = pick_candidates(run_dir, objective, top_k, already)
    if not candidates:
        return None
    top_k = max(top_k, int(raw.get("top_k", 0)))
    seeds = max(seeds, int(raw.get("seeds", 0)))
    write_json(confirm_path(run_dir), {"candidates": candidates, "top_k": top_k, "seeds": seeds})
    return load_confirmation(run_dir, objective)
