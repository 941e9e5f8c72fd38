"""What one trial reserves, and whether the machine or the Ray cluster can ever give it.

`gpus_per_trial: auto` becomes one GPU per trial where there are GPUs and none elsewhere: Ray
hides the GPUs from a trial that reserves none, so a default of 0 would train on the CPU of a
GPU machine without a word. A trial runs on one node, so it must fit on the largest node.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stratsearch.errors import StratsearchError

if TYPE_CHECKING:
    from stratsearch.space.load import Resources


@dataclass(frozen=True)
class Node:
    cpus: float
    gpus: float


@dataclass(frozen=True)
class PerTrial:
    cpus: float
    gpus: float

    def at_once(self, nodes: list[Node]) -> int:
        """How many trials the nodes can run at the same time."""
        return int(sum(min(n.cpus // self.cpus, n.gpus // self.gpus if self.gpus else math.inf) for n in nodes))


def local_gpu_count() -> int:
    """NVIDIA GPUs of this machine, read from the driver without importing torch."""
    visible = os.environ.get("CUDA_VISIBLE_DEVICES")
    if visible is not None:
        return len([d for d in visible.split(",") if d.strip() and d.strip() != "-1"])
    gpus = Path("/proc/driver/nvidia/gpus")
    return len(list(gpus.iterdir())) if gpus.is_dir() else 0


def this_machine() -> list[Node]:
    return [Node(float(os.cpu_count() or 1), float(local_gpu_count()))]


def ray_nodes() -> list[Node]:
    """The alive nodes of the Ray cluster this process is attached to."""
    import ray

    return [Node(n["Resources"].get("CPU", 0.0), n["Resources"].get("GPU", 0.0)) for n in ray.nodes() if n.get("Alive")]


def per_trial(resources: Resources, nodes: list[Node]) -> PerTrial:
    gpus = resources.gpus_per_trial
    if gpus == "auto":
        gpus = 1.0 if any(n.gpus for n in nodes) else 0.0
    return PerTrial(resources.cpus_per_trial, float(gpus))


def unplaceable(want: PerTrial, nodes: list[Node], where: str) -> list[tuple[str, str]]:
    """(key, problem) for a trial that no node of `where` could ever run: the sweep would wait forever."""
    problems = []
    most_cpus = max((n.cpus for n in nodes), default=0)
    most_gpus = max((n.gpus for n in nodes), default=0)
    if want.cpus > most_cpus:
        problems.append(
            (
                "resources.cpus_per_trial",
                f"{want.cpus:g} CPUs per trial, but {where} has at most {most_cpus:g} per node",
            )
        )
    if want.gpus > most_gpus:
        have = f"at most {most_gpus:g} per node" if most_gpus else "none"
        problems.append(("resources.gpus_per_trial", f"{want.gpus:g} GPU(s) per trial, but {where} has {have}"))
    return problems


def check_cluster(resources: Resources) -> tuple[PerTrial, int]:
    """At the start of `run`, once Ray is up: resolve `auto`, refuse what the cluster cannot place, and
    say how many trials run at once."""
    nodes = ray_nodes()
    want = per_trial(resources, nodes)
    problems = unplaceable(want, nodes, "the Ray cluster")
    if problems:
        raise StratsearchError("; ".join(f"{key}: {message}" for key, message in problems))
    at_once = want.at_once(nodes)
    return want, min(at_once, resources.max_concurrent or at_once)
