"""The data behind `GET /`: each policy's lake as cells to draw, its versions, its curve."""

from __future__ import annotations

from dataclasses import dataclass

from service.policy import TabularPolicy

ARROWS = {"LEFT": "←", "DOWN": "↓", "RIGHT": "→", "UP": "↑"}
TILE_NAMES = {"S": "start", "F": "ice", "H": "hole", "G": "goal"}


@dataclass
class Cell:
    state: int
    tile: str
    arrow: str
    shade: float  # 0..1, V(s) relative to the lake's range
    value: float
    tooltip: str


def lake_cells(policy: TabularPolicy) -> list[list[Cell]]:
    """Returns the lake's rows of cells, with the greedy arrow, shading and probabilities."""
    desc, width = policy.desc, len(policy.desc[0])
    values = policy.values_table
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    rows = []
    for r, row in enumerate(desc):
        cells = []
        for c, tile in enumerate(row):
            s = r * width + c
            probabilities = policy.probabilities_table[s]
            greedy = policy.action_names[policy.greedy_table[s]]
            listing = ", ".join(f"{name} {p:.2f}" for name, p in zip(policy.action_names, probabilities))
            tooltip = f"state {s} ({TILE_NAMES.get(tile, tile)}): V={values[s]:.3f}; {listing}"
            arrow = "" if tile in "HG" else ARROWS.get(greedy, greedy)
            cells.append(Cell(s, tile, arrow, (float(values[s]) - low) / span, float(values[s]), tooltip))
        rows.append(cells)
    return rows


def curve_points(curve: list, width: int = 320, height: int = 120) -> str:
    """Returns SVG polyline points for (env_steps, success) pairs, x scaled to the last step."""
    if not curve:
        return ""
    last = max(step for step, _ in curve) or 1
    return " ".join(f"{step / last * width:.1f},{height - success * height:.1f}" for step, success in curve)
