"""The house's shape in figures: import circles (file and package level), the longest functions,
and how long the light commands take (`--help`, `validate` on the quickstart). Run from the
repository root before and after a restructuring: `python bench/house.py`."""

from __future__ import annotations

import ast
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.test_imports import PACKAGE, circles, import_graph, package_graph

RUNS = 5


def longest_functions(top: int = 8) -> list[tuple[int, str]]:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                found.append((node.end_lineno - node.lineno + 1, f"{path.relative_to(PACKAGE.parent)}:{node.name}"))
    return sorted(found, reverse=True)[:top]


def seconds(*args: str) -> tuple[float, float]:
    """Median and spread of a command's wall time over RUNS runs (after one warm-up)."""
    command = [sys.executable, "-m", "stratsearch", *args]
    subprocess.run(command, capture_output=True, check=False)
    times = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, check=False)
        times.append(time.perf_counter() - start)
    return statistics.median(times), max(times) - min(times)


def main() -> None:
    files = import_graph()
    file_circles, package_circles = circles(files), circles(package_graph(files))
    print(f"modules: {len(files)}; lines: {sum(len(p.read_text().splitlines()) for p in PACKAGE.rglob('*.py'))}")
    print(f"file-level circles: {len(file_circles)} ({', '.join(str(len(c)) for c in file_circles) or '-'} files)")
    for circle in file_circles:
        print("  " + " ↔ ".join(m.removeprefix("stratsearch.") for m in circle))
    print(f"package-level circles: {len(package_circles)}")
    for circle in package_circles:
        print("  " + " ↔ ".join(m.removeprefix("stratsearch.") for m in circle))
    print("longest functions (lines):")
    for lines, name in longest_functions():
        print(f"  {lines:4d}  {name}")
    for label, args in (
        ("--help", ("--help",)),
        ("validate quickstart", ("validate", "search_spaces/quickstart.yaml")),
    ):
        median, spread = seconds(*args)
        print(f"{label}: {median:.2f} s (median of {RUNS}, spread {spread:.2f} s)")


if __name__ == "__main__":
    main()
