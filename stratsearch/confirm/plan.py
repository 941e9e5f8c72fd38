"""Which candidates a confirmation trains again, and what each has run, as the run directory says.

    runs/NAME/confirm.json   the candidates (their source trials), and the top k and seeds asked for

A confirmation run is an ordinary trial folder whose config.json says `"origin": "confirmation"`,
`"confirms": <source trial>` and `"round": r` (its seed is the source's + r); round 0 is the
source itself, the search run. The folders are the source of truth: what is owed, and which
candidates racing has dropped, is recomputed from them on every start, so a crash loses nothing
and runs nothing twice. A seed run that fails is run again once (`rundir.SeedGroup`); failing
again, its candidate is unconfirmed and leaves the race.

Everything that chooses (the winner, in `choice.py`; racing) reads the fresh seeds only: the search
run was picked for scoring high, so its value is biased upwards (the winner's curse).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stratsearch.confirm.examples import ValidationExamples
from stratsearch.confirm.stats import (
    MIN_PAIRS,
    Crossed,
    Drop,
    Interval,
    Paired,
    detectable,
    holm,
    interval,
    paired,
    paired_examples,
    race,
)
from stratsearch.objective import Objective
from stratsearch.rundir import RunDir, SeedGroup, read_json, seed_groups, write_json

CONFIRMATION = "confirmation"


@dataclass(frozen=True)
class SeedRun:
    trial: int
    round: int
    status: str
    validation: float | None
    test: float | None
    wall_s: float | None
    epochs_run: int  # the epochs it recorded (fewer than its config's where it was pruned or stopped)


@dataclass
class Candidate:
    source: int  # the search trial it confirms
    origin: str  # baseline, sampler, a portfolio member…
    config: dict[str, Any]  # the source's resolved trial config
    runs: dict[int, SeedRun] = field(default_factory=dict)  # round → its run: the finished one, else the latest
    seed_group: SeedGroup = field(default_factory=SeedGroup)  # whether it is confirmed, each round settled

    def values(self, split: str = "validation", upto: int | None = None) -> dict[int, float]:
        """round → value, for the rounds that ended with one (up to round `upto`, when given)."""
        out = {}
        for r, run in self.runs.items():
            value = run.validation if split == "validation" else run.test
            if value is not None and (upto is None or r <= upto):
                out[r] = value
        return out

    def fresh_values(self, split: str = "validation", upto: int | None = None) -> dict[int, float]:
        """round → value over the fresh seeds (round 0, the search run, left out)."""
        return {r: v for r, v in self.values(split, upto).items() if r > 0}

    def fresh(self, split: str = "validation") -> Interval:
        """Over the fresh seeds only: the search run was picked for scoring high, so it is left out."""
        return interval(list(self.fresh_values(split).values()))

    @property
    def unconfirmed(self) -> bool:
        """A seed run of it failed at the same round every attempt: it leaves the race and cannot win."""
        return self.seed_group.unconfirmed

    def seed_config(self, round_: int) -> dict[str, Any]:
        return {**self.config, "seed": int(self.config.get("seed", 0)) + round_}


@dataclass(frozen=True)
class Comparison:
    """a − b on the fresh seeds both ran: over seeds × validation examples (None where predictions
    are missing, or with fewer than two shared seeds) and over seeds alone."""

    rounds: list[int]
    crossed: Crossed | None
    seeds: Paired


@dataclass
class Confirmation:
    candidates: list[Candidate]
    seeds: int
    objective: Objective
    baseline: int | None  # the source trial of the first baseline, when it is a candidate
    examples: ValidationExamples | None = None  # each run's per-example contributions

    def by_source(self) -> dict[int, Candidate]:
        return {c.source: c for c in self.candidates}

    def fresh_examples(self, c: Candidate, upto: int | None = None) -> dict[int, np.ndarray]:
        """round → the run's per-example contributions to its score, over the fresh rounds with a
        value whose predictions are stored."""
        found = {r: self.examples.of(c.runs[r].trial) for r in c.fresh_values(upto=upto)} if self.examples else {}
        return {r: x for r, x in found.items() if x is not None}

    def compare(self, a: Candidate, b: Candidate, split: str = "validation") -> Comparison:
        """a against b over their shared fresh seeds; the test over examples on validation only
        (the test split's predictions are never used for a decision)."""
        va, vb = a.fresh_values(split), b.fresh_values(split)
        rounds = sorted(set(va) & set(vb))
        over_examples = None
        if split == "validation" and len(rounds) >= MIN_PAIRS:
            over_examples = paired_examples(self.fresh_examples(a), self.fresh_examples(b), rounds)
        return Comparison(rounds, over_examples, paired([va[r] for r in rounds], [vb[r] for r in rounds]))

    def dropped(self) -> dict[int, tuple[int, Drop]]:
        """Racing replayed round by round over the fresh rounds every live candidate has settled:
        candidate → (the round after which it was dropped, why). No look after the last round: it
        would save nothing."""
        out: dict[int, tuple[int, Drop]] = {}
        protected = {self.baseline} if self.baseline is not None else set()
        looks = max(1, self.seeds - MIN_PAIRS)
        for r in range(1, self.seeds):  # after round r, before round r + 1
            alive = [c for c in self.candidates if c.source not in out and not c.unconfirmed]
            if any(not c.seed_group.settled(r) for c in alive):
                break
            runs = {c.source: c.fresh_values(upto=r) for c in alive}
            examples = {c.source: self.fresh_examples(c, upto=r) for c in alive}
            _, drops = race(runs, self.objective.mode == "max", protected, looks=looks, examples=examples)
            out.update({d.candidate: (r, d) for d in drops})
        return out

    def detectable(self) -> tuple[Candidate, Candidate, float] | None:
        """From what difference from the baseline the test calls one with POWER at best, on this
        validation set (`stats.detectable`), judged from the search runs of the best searched
        candidate and the baseline; None without both runs' stored predictions."""
        base = self.by_source().get(self.baseline) if self.baseline is not None else None
        searched = [c for c in self.candidates if c is not base and 0 in c.runs]
        if base is None or not searched or 0 not in base.runs or self.examples is None:
            return None
        a, b = self.examples.of(searched[0].runs[0].trial), self.examples.of(base.runs[0].trial)
        if a is None or b is None or len(a) != len(b):
            return None
        return searched[0], base, detectable(a, b)

    def owed(self) -> list[tuple[Candidate, int]]:
        """The runs the next round needs: the lowest round some live candidate has not settled
        (a failed run is owed once more)."""
        dropped = self.dropped()
        live = [c for c in self.candidates if c.source not in dropped and not c.unconfirmed]
        for r in range(1, self.seeds + 1):
            missing = [(c, r) for c in live if not c.seed_group.settled(r)]
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

    def versus_baseline(self, winner: Candidate) -> VersusBaseline | None:
        """The winner against the baseline, allowing for its having been the best of the k searched
        candidates on the same seeds: each one's two-sided p against the baseline (over seeds ×
        examples where the predictions are stored, else over seeds alone; 1 without two shared
        fresh seeds), Holm-adjusted over the k. Among equal strategies the chance that any of them
        (so the winner) is called better than the baseline is then at most α (bench/verdict.py)."""
        base = self.by_source().get(self.baseline) if self.baseline is not None else None
        if base is None or winner is base:
            return None
        ps = {}
        for c in self.candidates:
            if c is not base:
                on = self.compare(c, base)
                p = on.crossed.p if on.crossed is not None else on.seeds.p
                ps[c.source] = p if len(on.rounds) >= MIN_PAIRS and not math.isnan(p) else 1.0
        adjusted = holm(ps)
        return VersusBaseline(self.compare(winner, base), ps[winner.source], adjusted[winner.source], len(ps))


@dataclass(frozen=True)
class VersusBaseline:
    comparison: Comparison  # winner − baseline over their shared fresh seeds
    p: float  # its own two-sided p
    adjusted: float  # Holm-adjusted over the k searched candidates, each compared with the baseline
    k: int


def comparable(config: dict[str, Any]) -> str:
    """A configuration apart from its seed: two trials that differ only there are the same strategy."""
    return json.dumps({k: v for k, v in config.items() if k != "seed"}, sort_keys=True, default=str)


def pick_candidates(run_dir: RunDir, objective: Objective, top_k: int, already: list[int]) -> list[int]:
    """`already` kept in its order, then the best `top_k` distinct searched strategies by their own
    search value (those not among them yet: a better trial found by an extended search joins the
    confirmation), then the first baseline if it is not among them (even pruned: it is the reference)."""
    searched = [
        (record, status, record.config())
        for record, status in run_dir.statuses()
        if status.scored and record.config().get("origin") != CONFIRMATION
    ]
    baseline = next((r.number for r, _, c in searched if c.get("baseline") == 0), None)
    finished = sorted(
        ((r, s, c) for r, s, c in searched if s.status == "finished"),
        key=lambda t: (objective.sort_key(t[1].best_value), t[0].number),
    )
    configs = {r.number: c for r, _, c in searched}
    picked = list(already)
    seen = {comparable((configs.get(n) or run_dir.trial(n).config())["config"]) for n in picked}
    best: set[str] = set()  # the top k distinct searched strategies
    for record, _, config in finished:
        key = comparable(config["config"])
        if record.number == baseline or key in best:
            continue
        if len(best) == top_k:
            break
        best.add(key)
        if key not in seen:
            seen.add(key)
            picked.append(record.number)
    if baseline is not None and baseline not in picked:
        picked.append(baseline)
    return picked


def load_confirmation(run_dir: RunDir, objective: Objective, plan: dict | None = None) -> Confirmation | None:
    """The confirmation recorded in a run directory (or `plan`, one not recorded), with every run its
    folders hold; None if none started."""
    raw = plan if plan is not None else read_json(run_dir.confirm_json)
    if not raw.get("candidates"):
        return None
    statuses = run_dir.statuses()
    records = {r.number: (r, s) for r, s in statuses}
    groups = seed_groups(statuses)
    candidates = {}
    for source in raw["candidates"]:
        record, status = records[source]
        config = record.config()
        group = groups.get(source, SeedGroup())
        candidates[source] = Candidate(source, config.get("origin") or "sampler", config["config"], seed_group=group)
        candidates[source].runs[0] = seed_run(source, 0, status, objective)
    for number, (record, status) in sorted(records.items()):
        config = record.config()
        source = config.get("confirms")
        if config.get("origin") != CONFIRMATION or source not in candidates or status.status == "interrupted":
            continue
        candidate, round_ = candidates[source], config["round"]
        if candidate.runs.get(round_) is None or candidate.runs[round_].status != "finished":
            candidate.runs[round_] = seed_run(number, round_, status, objective)
    baseline = next((s for s in raw["candidates"] if records[s][0].config().get("baseline") == 0), None)
    examples = ValidationExamples(run_dir, objective.metric)
    return Confirmation(list(candidates.values()), int(raw["seeds"]), objective, baseline, examples)


def seed_run(number: int, round_: int, status: Any, objective: Objective) -> SeedRun:
    finished = status.status == "finished"
    return SeedRun(
        number,
        round_,
        status.status,
        status.best_value if finished else None,
        status.test_value(objective.metric) if finished else None,
        status.wall_s,
        status.epoch,
    )


def plan_confirmation(
    run_dir: RunDir, objective: Objective, top_k: int, seeds: int, write: bool = True
) -> Confirmation | None:
    """Start or extend the confirmation: more candidates (up to `top_k` searched ones, and any better
    searched trial found since) or more seeds are added; what already ran is kept. None when no
    search trial finished. `write=False` plans without recording it (the reserve's question)."""
    raw = read_json(run_dir.confirm_json)
    already = list(raw.get("candidates", []))
    candidates = pick_candidates(run_dir, objective, top_k, already)
    if not candidates:
        return None
    top_k = max(top_k, int(raw.get("top_k", 0)))
    seeds = max(seeds, int(raw.get("seeds", 0)))
    plan = {**raw, "candidates": candidates, "top_k": top_k, "seeds": seeds}  # `asked` stays
    if write:
        write_json(run_dir.confirm_json, plan)
    return load_confirmation(run_dir, objective, plan)


def record_fit(run_dir: RunDir, candidates: list[int], seeds: int) -> None:
    """Record the candidates and seeds a confirmation will run, when the time left allows fewer
    than were asked (`asked` keeps the seeds that were, and `top_k` stays: a later `stratsearch
    confirm` with more time asks for every one again)."""
    raw = read_json(run_dir.confirm_json)
    asked = max(int(raw.get("asked", 0)), int(raw.get("seeds", 0)))
    write_json(run_dir.confirm_json, {**raw, "candidates": candidates, "seeds": seeds, "asked": asked})
