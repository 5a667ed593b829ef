"""The training curve as the page draws it: an SVG chart with axes, tick values, units and
the target line, laid out here in numbers so the template only writes them out."""

from __future__ import annotations

import math
from dataclasses import dataclass

from policy_artifacts.manifest import Evaluation

WIDTH, HEIGHT = 420, 220
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 14, 44  # margins around the plot: room for ticks and axis labels
MAX_MARKERS = 60
EXACT_METRICS = ("success_rate", "expected_return")  # their `best` is the optimum, not a threshold


@dataclass(frozen=True)
class Tick:
    position: float  # pixels along its axis, in the SVG's coordinates
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    left: float
    right: float
    top: float
    bottom: float
    points: str  # the polyline's
    markers: list[tuple[float, float]]  # a dot per evaluation while they are few (one alone draws no line)
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    x_label: str
    y_label: str
    target_y: float | None
    target_label: str


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Returns round tick values (steps of 1, 2 or 5 times a power of ten) covering low..high."""
    if high <= low:
        pad = abs(low) * 0.1 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(low / step + 1e-9) * step
    ticks = []
    while not ticks or ticks[-1] < high - 1e-9 * step:
        ticks.append(first + len(ticks) * step + 0.0)  # + 0.0: no tick reads -0
    return ticks


def tick_label(value: float, step: float) -> str:
    """Returns the value with as many decimals as the step between ticks needs."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}"


def target_label(evaluation: Evaluation) -> str:
    kind = "optimum" if evaluation.metric in EXACT_METRICS else "threshold"
    return f"{kind} {evaluation.best:g}"


def curve_chart(curve: list[tuple[int, float]], evaluation: Evaluation) -> Chart | None:
    """Returns the chart of (env steps, greedy metric) pairs against round axes that also
    hold the target (`evaluation.best`), or None for an empty curve."""
    if not curve:
        return None
    values = [v for _, v in curve] + ([evaluation.best] if evaluation.best is not None else [])
    xs = nice_ticks(0, max(step for step, _ in curve) or 1)
    ys = nice_ticks(min(values), max(values))
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM

    def x(step: float) -> float:
        return LEFT + (step - xs[0]) / (xs[-1] - xs[0]) * (right - LEFT)

    def y(value: float) -> float:
        return bottom - (value - ys[0]) / (ys[-1] - ys[0]) * (bottom - TOP)

    return Chart(
        width=WIDTH, height=HEIGHT, left=LEFT, right=right, top=TOP, bottom=bottom,
        points=" ".join(f"{x(step):.1f},{y(v):.1f}" for step, v in curve),
        markers=[(round(x(step), 1), round(y(v), 1)) for step, v in curve] if len(curve) <= MAX_MARKERS else [],
        x_ticks=[Tick(round(x(t), 1), tick_label(t, xs[1] - xs[0])) for t in xs],
        y_ticks=[Tick(round(y(t), 1), tick_label(t, ys[1] - ys[0])) for t in ys],
        x_label="env steps", y_label=evaluation.metric.replace("_", " "),
        target_y=round(y(evaluation.best), 1) if evaluation.best is not None else None,
        target_label=target_label(evaluation) if evaluation.best is not None else "",
    )
