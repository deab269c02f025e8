"""Side-by-side timing helpers shared by every benchmark."""

from __future__ import annotations

import resource
import statistics
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    label: str
    seconds: list[float]

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def time_call(label: str, fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> Sample:
    for _ in range(warmup):
        fn()
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append(time.perf_counter() - start)
    return Sample(label, runs)


def time_command(label: str, argv: Sequence[str], *, repeat: int = 10, warmup: int = 2, **kw: object) -> Sample:
    def run() -> None:
        subprocess.run(list(argv), check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, **kw)  # type: ignore[call-overload]

    return time_call(label, run, repeat=repeat, warmup=warmup)


def interleaved(samples: dict[str, Callable[[], object]], *, repeat: int = 10, warmup: int = 1) -> list[Sample]:
    """Time several candidates round-robin so machine noise hits all of them alike."""
    for fn in samples.values():
        for _ in range(warmup):
            fn()
    runs: dict[str, list[float]] = {k: [] for k in samples}
    for _ in range(repeat):
        for label, fn in samples.items():
            start = time.perf_counter()
            fn()
            runs[label].append(time.perf_counter() - start)
    return [Sample(k, v) for k, v in runs.items()]


def child_peak_rss_mib() -> float:
    """Peak RSS of the largest child process waited for so far (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024


def report(title: str, samples: Sequence[Sample], *, baseline: str, goal: str | None = None) -> str:
    """A table of medians with each candidate's ratio to `baseline` (the anchor tool or the raw limit)."""
    base = next(s for s in samples if s.label == baseline).median
    lines = [f"## {title}", "", f"| candidate | median (s) | ratio vs {baseline} | runs |", "|---|---|---|---|"]
    for s in samples:
        lines.append(f"| {s.label} | {s.median:.4f} | {s.median / base:.2f}x | {len(s.seconds)} |")
    if goal:
        lines += ["", f"Goal: {goal}"]
    text = "\n".join(lines) + "\n"
    print(text, flush=True)
    return text
