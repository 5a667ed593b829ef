"""The page draws each served version's training curve with axes the reader can read: env
steps along x, the manifest's metric up y, tick values on both, and the target dashed at
`evaluation.best`. In-process; the SVG is parsed as XML, so it must also be well formed."""

import re
import xml.etree.ElementTree as ElementTree

import pytest

from tests.helpers import publish_box_models, publish_models, random_box_models, random_models
from tests.service.inprocess import build_client

SVG = "{http://www.w3.org/2000/svg}"
CURVE = [(0, 12.0), (2_000, 80.0), (4_000, 310.5), (6_000, 402.0)]


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    training = dict(seconds=1.0, env_steps=6_000, updates=10, stopped_because="budget")
    publish_box_models(root, "cartpole", *random_box_models(seed=3), training={**training, "curve": CURVE})
    publish_models(root, "lake", *random_models(seed=1),
                   training={**training, "curve": [(0, 0.0), (500, 0.25), (1_000, 1.0)]})
    publish_models(root, "no-target", *random_models(seed=2),
                   training={**training, "curve": [(0, 0.5), (100, 0.5)]},
                   evaluation=dict(metric="expected_return", value=0.5, method="exact"))
    return build_client(root, tmp_path_factory.mktemp("cache"))


def chart_of(page: str, policy: str) -> ElementTree.Element:
    section = page.split(f'id="policy-{policy}"')[1].split("</section>")[0]
    svg = re.search(r'<svg class="curve".*?</svg>', section, re.S).group(0)
    return ElementTree.fromstring(svg.replace("<svg ", '<svg xmlns="http://www.w3.org/2000/svg" ', 1))


def ticks(chart: ElementTree.Element, axis: str) -> dict[float, float]:
    """Returns tick value -> pixel position along the axis, read from the tick labels."""
    group = chart.find(f"{SVG}g[@class='{axis}']")
    coordinate = "x" if axis == "x-axis" else "y"
    labels = [t for t in group.findall(f"{SVG}text") if t.get("class") != "axis-label"]
    offset = 0 if axis == "x-axis" else -3  # y labels sit 3 px below their tick line (baseline)
    return {float(t.text.replace(",", "")): float(t.get(coordinate)) + offset for t in labels}


def pixel_of(value: float, scale: dict[float, float]) -> float:
    (v0, p0), (v1, p1) = sorted(scale.items())[:2]
    return p0 + (value - v0) * (p1 - p0) / (v1 - v0)


def axis_label(chart, axis):
    return chart.find(f"{SVG}g[@class='{axis}']/{SVG}text[@class='axis-label']").text


def test_the_curve_has_axes_labelled_with_units_and_the_metric(client):
    chart = chart_of(client.get("/").text, "cartpole")
    assert axis_label(chart, "x-axis") == "env steps"
    assert axis_label(chart, "y-axis") == "mean return"
    xs, ys = ticks(chart, "x-axis"), ticks(chart, "y-axis")
    assert min(xs) == 0 and max(xs) >= 6_000 and len(xs) >= 3
    assert min(ys) <= 12 and max(ys) >= 475 and len(ys) >= 3  # the axis reaches the target too
    assert "6,000" in [t.text for t in chart.iter(f"{SVG}text")]


def test_the_target_is_a_dashed_line_at_best_on_the_y_scale(client):
    chart = chart_of(client.get("/").text, "cartpole")
    target = chart.find(f"{SVG}g[@class='target']")
    line = target.find(f"{SVG}line")
    assert line.get("stroke-dasharray") and line.get("y1") == line.get("y2")
    assert float(line.get("y1")) == pytest.approx(pixel_of(475.0, ticks(chart, "y-axis")), abs=0.2)
    assert target.find(f"{SVG}text").text == "threshold 475"


def test_the_polyline_follows_the_tick_scales(client):
    chart = chart_of(client.get("/").text, "cartpole")
    xs, ys = ticks(chart, "x-axis"), ticks(chart, "y-axis")
    points = [tuple(map(float, p.split(","))) for p in chart.find(f"{SVG}polyline").get("points").split()]
    dots = [(float(c.get("cx")), float(c.get("cy"))) for c in chart.findall(f"{SVG}circle")]
    assert dots == points  # a dot per evaluation: a curve of one point still shows
    for (step, value), (px, py) in zip(CURVE, points, strict=True):
        assert px == pytest.approx(pixel_of(step, xs), abs=0.2)
        assert py == pytest.approx(pixel_of(value, ys), abs=0.2)


def test_an_exact_metric_names_its_optimum_and_a_missing_best_draws_no_target(client):
    page = client.get("/").text
    lake = chart_of(page, "lake")
    assert axis_label(lake, "y-axis") == "success rate"
    assert lake.find(f"{SVG}g[@class='target']/{SVG}text").text == "optimum 1"
    flat = chart_of(page, "no-target")  # a flat curve still gets an axis with a span
    assert axis_label(flat, "y-axis") == "expected return"
    assert flat.find(f"{SVG}g[@class='target']") is None
    assert len(ticks(flat, "y-axis")) >= 3


def test_the_versions_table_names_states_in_the_api_words(client):
    page = client.get("/").text
    assert page.count('<td class="loaded" title="">loaded</td>') == 3 and "VersionState" not in page
