"""A directed acyclic graph laid out in layers, left to right, for drawing as SVG.

Pure: nodes and edges in, boxes and curves out. A node's layer is the length of the longest
path reaching it, so every edge points right; within a layer, nodes are ordered by the mean
position of their predecessors, which keeps most edges short and uncrossed. A cycle (which a
run's steps never form) does not hang the layout: its nodes go in a last layer.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

NODE_W = 168
NODE_H = 48
GAP_X = 56
GAP_Y = 18
MARGIN = 8


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    label: str
    detail: str = ""  # a second line: status, duration, type
    kind: str = ""  # the CSS class: a status, "artifact", "root"
    href: str = ""
    tooltip: str = ""


@dataclass(frozen=True, slots=True)
class Placed:
    node: Node
    x: int
    y: int


@dataclass(frozen=True, slots=True)
class Layout:
    nodes: tuple[Placed, ...]
    edges: tuple[str, ...]  # SVG path data, one cubic curve per edge
    width: int
    height: int
    node_w: int = NODE_W
    node_h: int = NODE_H


def layout(nodes: Sequence[Node], edges: Sequence[tuple[str, str]]) -> Layout:
    """Place ``nodes`` in layers so that every edge (source id, target id) points right."""
    ids = [n.id for n in nodes]
    known = set(ids)
    links = sorted({(a, b) for a, b in edges if a in known and b in known and a != b})
    layers = _layers(ids, links)
    columns = _ordered(layers, links)
    tallest = max((len(c) for c in columns), default=0)
    height = 2 * MARGIN + max(tallest * (NODE_H + GAP_Y) - GAP_Y, 0)
    width = 2 * MARGIN + max(len(columns) * (NODE_W + GAP_X) - GAP_X, 0)
    spot: dict[str, tuple[int, int]] = {}
    for index, column in enumerate(columns):
        used = len(column) * (NODE_H + GAP_Y) - GAP_Y
        top = MARGIN + (height - 2 * MARGIN - used) // 2  # each layer centred vertically
        for row, node_id in enumerate(column):
            spot[node_id] = (MARGIN + index * (NODE_W + GAP_X), top + row * (NODE_H + GAP_Y))
    by_id = {n.id: n for n in nodes}
    placed = tuple(Placed(by_id[i], *spot[i]) for column in columns for i in column)
    curves = tuple(_curve(spot[a], spot[b]) for a, b in links)
    return Layout(placed, curves, width, height)


def _layers(ids: Sequence[str], links: Sequence[tuple[str, str]]) -> dict[str, int]:
    incoming = dict.fromkeys(ids, 0)
    outgoing: dict[str, list[str]] = {i: [] for i in ids}
    for a, b in links:
        incoming[b] += 1
        outgoing[a].append(b)
    layer = dict.fromkeys(ids, 0)
    ready = [i for i in ids if incoming[i] == 0]
    done: set[str] = set()
    while ready:
        current = ready.pop(0)
        done.add(current)
        for nxt in outgoing[current]:
            layer[nxt] = max(layer[nxt], layer[current] + 1)
            incoming[nxt] -= 1
            if incoming[nxt] == 0:
                ready.append(nxt)
    last = max((layer[i] for i in done), default=-1) + 1
    for i in ids:
        if i not in done:
            layer[i] = last
    return layer


def _ordered(layers: dict[str, int], links: Sequence[tuple[str, str]]) -> list[list[str]]:
    count = max(layers.values(), default=-1) + 1
    columns: list[list[str]] = [[] for _ in range(count)]
    for node_id, index in layers.items():
        columns[index].append(node_id)
    parents: dict[str, list[str]] = {}
    for a, b in links:
        parents.setdefault(b, []).append(a)
    row: dict[str, float] = {}
    for column in columns:
        first = {node_id: position for position, node_id in enumerate(column)}

        def centre(node_id: str, first: dict[str, int] = first) -> tuple[float, int]:
            above = [row[p] for p in parents.get(node_id, ()) if p in row]
            return (sum(above) / len(above) if above else first[node_id], first[node_id])

        column.sort(key=centre)
        row.update({node_id: float(position) for position, node_id in enumerate(column)})
    return columns


def _curve(source: tuple[int, int], target: tuple[int, int]) -> str:
    x1, y1 = source[0] + NODE_W, source[1] + NODE_H // 2
    x2, y2 = target[0], target[1] + NODE_H // 2
    bend = max((x2 - x1) // 2, GAP_X // 2)
    return f"M{x1},{y1} C{x1 + bend},{y1} {x2 - bend},{y2} {x2},{y2}"
