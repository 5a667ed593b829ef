"""The data behind `GET /`: each policy's grid (for grid worlds), spaces, evaluation,
versions and training curve."""

from __future__ import annotations

from dataclasses import dataclass

from service.policy import ServedPolicy, TabularPolicy
from service.presentation import policy_status
from service.registry import Snapshot

ARROWS = {"LEFT": "←", "DOWN": "↓", "RIGHT": "→", "UP": "↑", "SOUTH": "↓", "NORTH": "↑", "EAST": "→", "WEST": "←"}


@dataclass
class Cell:
    state: int
    tile: str
    arrow: str
    shade: float  # 0..1, V(s) relative to the grid's range
    value: float
    tooltip: str


def grid_cells(policy: TabularPolicy) -> list[list[Cell]] | None:
    """Returns the grid's rows of cells, with the greedy arrow, shading and probabilities;
    None for a policy without a grid layout."""
    layout = policy.manifest.layout
    if layout is None:
        return None
    width = len(layout.rows[0])
    values = policy.values_table
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    rows = []
    for r, row in enumerate(layout.rows):
        cells = []
        for c, tile in enumerate(row):
            s = r * width + c
            greedy = policy.action_names[policy.greedy_table[s]]
            listing = ", ".join(f"{name} {p:.2f}" for name, p in zip(policy.action_names, policy.probabilities_table[s]))
            tooltip = f"state {s} ({layout.legend.get(tile, tile)}): V={values[s]:.3f}; {listing}"
            arrow = "" if tile in layout.terminal else ARROWS.get(greedy, greedy[:1])
            cells.append(Cell(s, tile, arrow, (float(values[s]) - low) / span, float(values[s]), tooltip))
        rows.append(cells)
    return rows


def curve_points(curve: list, width: int = 320, height: int = 120) -> str:
    """Returns SVG polyline points for (env_steps, metric) pairs, scaled to the box."""
    if not curve:
        return ""
    last = max(step for step, _ in curve) or 1
    low, high = min(v for _, v in curve), max(v for _, v in curve)
    span = high - low or 1.0
    return " ".join(f"{step / last * width:.1f},{height - (v - low) / span * height:.1f}" for step, v in curve)


def space_summary(policy: ServedPolicy) -> str:
    space = policy.observation_space
    if space.kind == "discrete":
        return f"{space.n} discrete states"
    return f"Box of shape {list(space.shape)} ({space.dtype})"


def page_policies(snapshot: Snapshot, max_cells: int) -> list[dict]:
    """Returns what the template draws for each policy (grids of more than `max_cells`
    numbers are left out: the page would weigh megabytes)."""
    policies = []
    for entry in snapshot.policies.values():
        served = entry.served
        manifest = served.manifest if served else None
        curve = manifest.training.curve if manifest else []
        policies.append({
            "name": entry.name, "served": served, "status": policy_status(entry),
            "cells": grid_cells(served) if isinstance(served, TabularPolicy)
            and served.n_states * len(served.action_names) <= max_cells else None,
            "legend": manifest.layout.legend if manifest and manifest.layout else {},
            "env": manifest.env if manifest else None,
            "space": space_summary(served) if served else "",
            "evaluation": manifest.evaluation if manifest else None,
            "curve": curve_points(curve), "curve_steps": f"{curve[-1][0]:,}" if curve else 0,
            "curve_range": (min(v for _, v in curve), max(v for _, v in curve)) if curve else None,
        })
    return policies
