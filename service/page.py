"""The data behind `GET /`: each policy's grid (for grid worlds), spaces, evaluation,
versions and training curve."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from policy_artifacts.manifest import GridLayout
from service.chart import curve_chart
from service.policy import ServedPolicy, TabularPolicy
from service.presentation import policy_status
from service.registry import PolicyEntry, Snapshot

ARROWS = {"LEFT": "←", "DOWN": "↓", "RIGHT": "→", "UP": "↑", "SOUTH": "↓", "NORTH": "↑", "EAST": "→", "WEST": "←"}
GOAL_COLOUR = "#f2c744"
END_COLOUR = "#2b2f36"  # cells where an episode ends short of a goal
START_OUTLINE = "#2f9e44"
OTHER_COLOURS = ("#8a4b3c", "#7b5ea7", "#2f8f9e", "#c2410c")


@dataclass(frozen=True)
class Tile:
    """How the page draws one character of a grid's layout, and says what it is."""

    character: str
    meaning: str
    style: str  # CSS declarations of its cells; "" leaves them shaded by V(s)
    dark: bool = False


def tiles(layout: GridLayout) -> dict[str, Tile]:
    """Returns how each character of the layout is drawn, decided from its legend alone:
    a goal in gold, other cells where an episode ends dark, the start outlined, the most
    common character (the ground) shaded by V(s), and any other legend entry in a colour
    of its own. Characters the legend does not name are drawn as ground."""
    ground = Counter("".join(layout.rows)).most_common(1)[0][0]
    others = iter(OTHER_COLOURS * len(layout.legend))
    drawn = {}
    for character, meaning in layout.legend.items():
        words = meaning.lower()
        if words.startswith("goal"):
            drawn[character] = Tile(character, meaning, f"background: {GOAL_COLOUR}")
        elif character in layout.terminal:
            drawn[character] = Tile(character, meaning, f"background: {END_COLOUR}; color: #fff", dark=True)
        elif words.startswith("start"):
            drawn[character] = Tile(character, meaning, f"outline: 3px solid {START_OUTLINE}; outline-offset: -3px")
        elif character == ground:
            drawn[character] = Tile(character, meaning, "")
        else:
            drawn[character] = Tile(character, meaning, f"background: {next(others)}; color: #fff", dark=True)
    return drawn


@dataclass
class Cell:
    state: int
    tile: str
    arrow: str
    shade: float  # 0..1, V(s) relative to the grid's range
    value: float
    tooltip: str
    style: str = ""  # the tile's (see `tiles`)
    dark: bool = False


def grid_cells(policy: TabularPolicy) -> list[list[Cell]] | None:
    """Returns the grid's rows of cells, with the greedy arrow, shading and probabilities;
    None for a policy without a grid layout."""
    layout = policy.manifest.layout
    if layout is None:
        return None
    drawn = tiles(layout)
    values = policy.values_table
    low, high = float(values.min()), float(values.max())
    span = high - low or 1.0
    rows = [[] for _ in layout.rows]
    for s in range(layout.n_cells):
        r, _, tile = layout.cell(s)
        greedy = policy.action_names[policy.greedy_table[s]]
        listing = ", ".join(f"{name} {p:.2f}" for name, p in zip(policy.action_names, policy.probabilities_table[s]))
        tooltip = f"state {s} ({layout.legend.get(tile, tile)}): V={values[s]:.3f}; {listing}"
        arrow = "" if tile in layout.terminal else ARROWS.get(greedy, greedy[:1])
        look = drawn.get(tile)
        rows[r].append(Cell(s, tile, arrow, (float(values[s]) - low) / span, float(values[s]), tooltip,
                            look.style if look else "", look.dark if look else False))
    return rows


def space_summary(policy: ServedPolicy) -> str:
    space = policy.observation_space
    if space.kind == "discrete":
        return f"{space.n} discrete states"
    return f"Box of shape {list(space.shape)} ({space.dtype})"


def action_summary(policy: ServedPolicy) -> str:
    """Returns the actions in words: their names, and for Box actions the shape, bounds and
    distribution (the page has no probability table for them)."""
    space = policy.action_space
    names = ", ".join(policy.action_names)
    if space.kind == "discrete":
        return names
    low, high = space.flat_bounds
    bounds = ", ".join(f"{name} in [{lo:g}, {hi:g}]" for name, lo, hi in zip(policy.action_names, low, high))
    return (f"Box of shape {list(space.shape)} ({space.dtype}): {bounds}; "
            f"{space.distribution.kind.replace('_', ' ')} (greedy: the mean, clipped to the bounds)")


def episode_url(entry: PolicyEntry) -> str | None:
    """Returns the served version's episode.gif address, relative to the page; None if it has none."""
    record = entry.record.record(entry.served.version) if entry.served else None
    if record is None or record.episode is None:
        return None
    return f"models/{entry.name}/versions/{record.version}/episode.gif"


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
            "legend": list(tiles(manifest.layout).values()) if manifest and manifest.layout else [],
            "env": manifest.env if manifest else None,
            "space": space_summary(served) if served else "",
            "actions": action_summary(served) if served else "",
            "evaluation": manifest.evaluation if manifest else None,
            "chart": curve_chart(curve, manifest.evaluation) if manifest else None,
            "episode": episode_url(entry),
        })
    return policies
