"""What the web UI draws, computed without a server: layered graph layout, a run's step edges,
chart scales and ticks, timelines, and numbers written for people."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from conveyor.server._ui._charts import line_chart, number, seconds, ticks, time_ticks, timeline
from conveyor.server._ui._dag import step_edges
from conveyor.server._ui._graph import NODE_H, NODE_W, Node, layout
from conveyor.store import ArtifactLink, StepRunRecord

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_every_edge_points_right_and_a_node_sits_after_its_longest_path() -> None:
    nodes = [Node(n, n) for n in "abcde"]
    edges = [("a", "b"), ("b", "c"), ("a", "c"), ("c", "d"), ("a", "d"), ("x", "a")]
    drawn = layout(nodes, edges)
    where = {p.node.id: (p.x, p.y) for p in drawn.nodes}
    assert where["a"][0] < where["b"][0] < where["c"][0] < where["d"][0]
    assert where["e"][0] == where["a"][0]  # unconnected: first layer
    assert len(drawn.edges) == 5  # the edge from an unknown node is left out
    boxes = list(where.values())
    assert len(set(boxes)) == len(boxes)  # no two nodes on one spot
    assert all(x + NODE_W <= drawn.width and y + NODE_H <= drawn.height for x, y in boxes)


def test_a_cycle_does_not_hang_the_layout() -> None:
    drawn = layout([Node("a", "a"), Node("b", "b"), Node("c", "c")], [("a", "b"), ("b", "a")])
    assert {p.node.id for p in drawn.nodes} == {"a", "b", "c"}


def test_children_are_ordered_under_their_parents_to_keep_edges_uncrossed() -> None:
    nodes = [Node(n, n) for n in ("top", "bottom", "child_of_bottom", "child_of_top")]
    drawn = layout(nodes, [("top", "child_of_top"), ("bottom", "child_of_bottom")])
    y = {p.node.id: p.y for p in drawn.nodes}
    assert y["child_of_top"] < y["child_of_bottom"]


def step(name: str, start: float, end: float, ins: str = "", outs: str = "") -> StepRunRecord:
    return StepRunRecord(
        id=name,
        run_id="run-1",
        step=name,
        status="succeeded",
        started_at=T0 + timedelta(seconds=start),
        finished_at=T0 + timedelta(seconds=end),
        inputs=tuple(ArtifactLink(a, a) for a in ins),
        outputs=tuple(ArtifactLink(a, a) for a in outs),
    )


def test_a_steps_input_comes_from_the_step_that_wrote_it_last_before_it_started() -> None:
    steps = [
        step("load", 0, 1, outs="x"),
        step("check", 1, 2, ins="x", outs="x"),  # passes its input through: equal bytes
        step("train", 2, 3, ins="x", outs="m"),
        step("evaluate", 3, 4, ins="mx", outs="s"),
    ]
    assert sorted(step_edges(steps)) == [
        ("check", "evaluate"),
        ("check", "train"),
        ("load", "check"),
        ("train", "evaluate"),
    ]


def test_ticks_are_round_and_cover_the_range() -> None:
    assert ticks(0.013, 0.97) == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert ticks(120, 980) == [0, 250, 500, 750, 1000]
    assert ticks(2.1, 2.9) == [2.0, 2.2, 2.4, 2.6, 2.8, 3.0]
    assert ticks(5.0, 5.0) == [5.0]


def test_time_ticks_fall_on_whole_minutes_hours_and_days() -> None:
    assert time_ticks(100, 400) == [120, 180, 240, 300, 360]
    assert time_ticks(1000, 19 * 3600) == [21600, 43200, 64800]  # every 6 h, from midnight
    assert all(t % (7 * 86400) == 0 for t in time_ticks(0, 200 * 86400))


def test_a_value_that_is_not_finite_breaks_the_line_instead_of_the_scale() -> None:
    chart = line_chart("loss", [("loss", [(0, 1.0), (1, math.nan), (2, 0.5), (3, math.inf)])])
    (line,) = chart.lines
    assert line.path.count("M") == 2 and len(line.dots) == 2
    assert all(chart.left <= d.x <= chart.right and 0 <= d.y <= chart.bottom for d in line.dots)
    labels = [t.label for t in chart.y_ticks]
    assert labels == ["0.4", "0.6", "0.8", "1"]  # round values around 0.5 … 1, inf left out


def test_a_threshold_is_drawn_inside_the_chart_even_above_every_value() -> None:
    chart = line_chart("psi", [("psi", [(0, 0.01), (1, 0.02)])], threshold=0.2)
    assert chart.threshold is not None and 0 <= chart.threshold < chart.lines[0].dots[0].y


def test_a_timeline_scales_bars_and_shows_an_instant() -> None:
    drawn = timeline([("load", "cached", 0.0, 0.0), ("train", "succeeded", 0.5, 10.0)])
    load, train = drawn.bars
    assert load.width == 2.0 and train.x > load.x and train.width > 100
    assert train.y > load.y
    assert drawn.ticks[0].label == "0 ms"


@pytest.mark.parametrize(
    ("value", "text"),
    [(0.93333, "0.9333"), (1234567.0, "1,234,567"), (3.0, "3"), (1e-5, "1e-05"), (math.nan, "nan")],
)
def test_numbers_for_people(value: float, text: str) -> None:
    assert number(value) == text


@pytest.mark.parametrize(
    ("value", "text"), [(0.02, "20 ms"), (12.5, "12.5 s"), (200, "3 min 20 s"), (7500, "2 h 5 min")]
)
def test_durations_for_people(value: float, text: str) -> None:
    assert seconds(value) == text
