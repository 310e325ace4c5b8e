"""The lineage graph as nodes and edges, and a layered layout to draw it as SVG.

Nodes are ``(name, version)``: a table at v3 and at v4 are two nodes, so the graph shows which
version fed which (``version`` is ``None`` for feature views, runs and endpoints). The layout is
the classic layered one (longest path from the sources, then barycenter ordering), small enough
to compute per request for a workspace's graph.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from raylake.catalog.records import LineageEdge

NODE_W, NODE_H = 190, 46
GAP_X, GAP_Y = 48, 22
TOP = 40  # room for edges that arc over the first row
MAX_NODES = 400  # past this the page says the graph was cut (a focused view still works)

Key = tuple[str, int | None]

# Node kinds: their lane colors (and legend order).
KIND_COLORS = {
    "table": "#3b82f6",
    "feature_view": "#10b981",
    "online_store": "#14b8a6",
    "training_set": "#f59e0b",
    "run": "#8b5cf6",
    "model": "#ef4444",
    "endpoint": "#111827",
}

# When edges disagree on a node's kind, the more specific one wins.
_RANK = {"table": 0, "training_set": 1}

_PREFIXES = {"runs:/": "run", "feature_views:/": "feature_view", "online_store:/": "online_store"}


@dataclass
class Node:
    name: str
    version: int | None
    kind: str
    label: str = ""
    href: str = ""
    x: float = 0.0
    y: float = 0.0
    layer: int = 0

    @property
    def id(self) -> str:
        return node_id(self.name, self.version)

    @property
    def color(self) -> str:
        return KIND_COLORS.get(self.kind, "#6b7280")


@dataclass
class Graph:
    nodes: dict[Key, Node] = field(default_factory=dict)
    edges: set[tuple[Key, Key]] = field(default_factory=set)
    truncated: bool = False
    width: float = 0.0
    height: float = 0.0

    def add(self, source: Node, target: Node) -> None:
        for node in (source, target):
            key = (node.name, node.version)
            known = self.nodes.get(key)
            if known is not None and _RANK.get(node.kind, 0) > _RANK.get(known.kind, 0):
                self.nodes[key] = node  # e.g. a training set read back as a plain table
            if known is None:
                if len(self.nodes) >= MAX_NODES:
                    self.truncated = True
                    return
                self.nodes[key] = node
        self.edges.add(((source.name, source.version), (target.name, target.version)))

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": [
                {
                    "id": n.id,
                    "name": n.name,
                    "version": n.version,
                    "kind": n.kind,
                    "label": n.label,
                    "href": n.href,
                }
                for n in self.nodes.values()
            ],
            "edges": [
                {"source": node_id(*s), "target": node_id(*t)}
                for s, t in sorted(self.edges, key=str)
            ],
            "truncated": self.truncated,
        }


def node_id(name: str, version: int | None) -> str:
    return name if version is None else f"{name}@v{version}"


def kind_of(name: str, recorded: str) -> str:
    for prefix, kind in _PREFIXES.items():
        if name.startswith(prefix):
            return kind
    return recorded or "table"


def _short(name: str, kind: str) -> str:
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            rest = name[len(prefix) :]
            return f"run {rest[:8]}" if kind == "run" else rest
    if kind in ("table", "training_set", "model") and name.startswith("main."):
        return name[len("main.") :]
    return name


def _href(name: str, kind: str, version: int | None) -> str:
    if kind == "run":
        return f"/runs/{name.removeprefix('runs:/')}"
    if kind == "model":
        return f"/models/{name}"
    if kind == "endpoint":
        return f"/endpoints/{name}"
    if kind in ("feature_view", "online_store"):
        return f"/lineage?node={name}"
    return f"/tables/{name}"


def make_node(name: str, version: int | None, recorded_kind: str) -> Node:
    kind = kind_of(name, recorded_kind)
    label = _short(name, kind)
    if version is not None:
        label = f"{label} v{version}"
    return Node(name, version, kind, label, _href(name, kind, version))


def build(edges: Iterable[LineageEdge], endpoints: Iterable[tuple[str, str, int]] = ()) -> Graph:
    """A graph of lineage edges plus ``(endpoint, model, version)`` serving edges."""
    graph = Graph()
    for e in edges:
        graph.add(
            make_node(e.source_name, e.source_version, e.source_kind),
            make_node(e.target_name, e.target_version, e.target_kind),
        )
    for endpoint, model, version in endpoints:
        graph.add(make_node(model, version, "model"), make_node(endpoint, None, "endpoint"))
    layout(graph)
    return graph


def layout(graph: Graph) -> None:
    """Layered layout: column = longest path from a source; rows by predecessor barycenter."""
    preds: dict[Key, list[Key]] = defaultdict(list)
    succs: dict[Key, list[Key]] = defaultdict(list)
    for s, t in graph.edges:
        if s != t:
            preds[t].append(s)
            succs[s].append(t)
    layer: dict[Key, int] = {k: 0 for k in graph.nodes}
    # Bellman-Ford style relaxation, bounded so a (never expected) cycle cannot hang a page.
    for _ in range(len(graph.nodes)):
        changed = False
        for s, t in graph.edges:
            if s != t and layer[t] < layer[s] + 1:
                layer[t] = layer[s] + 1
                changed = True
        if not changed:
            break
    columns: dict[int, list[Key]] = defaultdict(list)
    for key in sorted(graph.nodes, key=lambda k: (k[0], k[1] if k[1] is not None else -1)):
        columns[layer[key]].append(key)
    row: dict[Key, float] = {}
    for _sweep in range(2):
        for col in sorted(columns):
            keys = columns[col]
            for i, key in enumerate(keys):
                ps = [row[p] for p in preds[key] if p in row]
                row.setdefault(key, float(i))
                if ps:
                    row[key] = sum(ps) / len(ps)
            keys.sort(key=lambda k: row[k])
            for i, key in enumerate(keys):
                row[key] = float(i)
    tallest = max((len(c) for c in columns.values()), default=0)
    for col, keys in columns.items():
        offset = (tallest - len(keys)) * (NODE_H + GAP_Y) / 2  # center short columns
        for i, key in enumerate(keys):
            node = graph.nodes[key]
            node.layer = col
            node.x = 10 + col * (NODE_W + GAP_X)
            node.y = TOP + offset + i * (NODE_H + GAP_Y)
    graph.width = 20 + (max(columns, default=0) + 1) * (NODE_W + GAP_X)
    graph.height = TOP + 10 + tallest * (NODE_H + GAP_Y)


def edge_path(graph: Graph, source: Key, target: Key) -> str:
    """An SVG cubic curve from the right of ``source`` to the left of ``target``."""
    s, t = graph.nodes[source], graph.nodes[target]
    if source[0] == target[0] and s.layer == t.layer:  # same column: loop around the side
        x = s.x + NODE_W
        return (
            f"M{x},{s.y + NODE_H / 2} C{x + 40},{s.y + NODE_H / 2} "
            f"{x + 40},{t.y + NODE_H / 2} {x},{t.y + NODE_H / 2}"
        )
    x1, y1 = s.x + NODE_W, s.y + NODE_H / 2
    x2, y2 = t.x, t.y + NODE_H / 2
    if t.layer - s.layer > 1:  # skips a column: arc over the boxes between, not through them
        lift = NODE_H / 2 + GAP_Y / 2 + 4
        return (
            f"M{x1},{y1} C{x1 + 40},{y1 - lift} {x1 + 40},{min(y1, y2) - lift} "
            f"{(x1 + x2) / 2},{min(y1, y2) - lift} S{x2 - 40},{y2 - lift} {x2},{y2}"
        )
    mid = (x1 + x2) / 2
    return f"M{x1},{y1} C{mid},{y1} {mid},{y2} {x2},{y2}"
