"""Greedy placement of plot labels (matplotlib): candidate offsets per label, first that overlaps nothing."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure


class Placer:
    """Greedy label placement: try candidate offsets, keep the first that overlaps nothing."""

    def __init__(self, fig: Figure, ax: Axes, strict: list[tuple[Any, float]], soft: list[tuple[Any, float]]):
        self.fig, self.ax = fig, ax
        self.renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]  # Agg canvases have it
        box = ax.get_window_extent(self.renderer)
        self.inside = (box.x0 + 2, box.y0 + 2, box.x1 - 2, box.y1 - 2)
        px = fig.dpi / 72.0
        self.strict = self._boxes(strict, px)
        self.soft = self._boxes(soft, px)
        self.taken = np.zeros((0, 4))
        self.pad = 1.5 * px  # text background pad; labels keep twice that apart
        self.hidden = 0

    @staticmethod
    def _boxes(colls: list[tuple[Any, float]], px: float) -> np.ndarray:
        rows = []
        for coll, size in colls:
            offsets = np.asarray(coll.get_offsets(), dtype=float)
            if not len(offsets):
                continue
            pts = coll.get_offset_transform().transform(offsets)
            r = math.sqrt(size) / 2 * px + 1
            rows.append(np.column_stack([pts[:, 0] - r, pts[:, 1] - r, pts[:, 0] + r, pts[:, 1] + r]))
        return np.vstack(rows) if rows else np.zeros((0, 4))

    @staticmethod
    def _hits(box: tuple[float, float, float, float], obstacles: np.ndarray) -> bool:
        if not len(obstacles):
            return False
        x0, y0, x1, y1 = box
        o = obstacles
        return bool(((o[:, 0] < x1) & (o[:, 2] > x0) & (o[:, 1] < y1) & (o[:, 3] > y0)).any())

    def place(
        self, text: str | Sequence[str], xycoords: Any, candidates: list[dict[str, Any]], **style: Any
    ) -> Any:
        """Add a label at the first free candidate (each a dict with ``xy`` and annotate keywords).

        ``text`` may list variants (e.g. one line, then two lines), tried in order at each
        stage. Markers of dominated/pruned/over-budget trials are avoided when possible, then
        may be covered; front points, references and other labels never are. Returns the
        artist, or None when no candidate is free (counted in ``hidden``).
        """
        texts = [text] if isinstance(text, str) else list(text)
        sizes: dict[tuple[str, float], tuple[float, float]] = {}
        x0, y0, x1, y1 = self.inside
        labels = self.taken
        for markers in (np.vstack([self.strict, self.soft]), self.strict):
            for variant in texts:
                for cand in candidates:
                    key = (variant, cand.get("rotation", 0))
                    if key not in sizes:
                        sizes[key] = self._size(variant, key[1], style)
                    box = self._box(cand, xycoords, sizes[key])  # text plus its white background
                    if not (box[0] >= x0 and box[1] >= y0 and box[2] <= x1 and box[3] <= y1):
                        continue
                    spaced = (box[0] - self.pad, box[1] - self.pad, box[2] + self.pad, box[3] + self.pad)
                    if self._hits(box, markers) or self._hits(spaced, labels):
                        continue
                    leader = self._leader(cand["xy"], xycoords, box) if cand.get("arrow") else None
                    if leader is not None and self._hits_points(leader, np.vstack([labels, self.strict])):
                        continue
                    self.taken = np.vstack([self.taken, box])
                    if leader is not None:
                        self.taken = np.vstack([self.taken, np.column_stack([leader - 2.0, leader + 2.0])])
                    return self._annotate(variant, xycoords, cand, style)
        self.hidden += 1
        return None

    def _annotate(self, text: str, xycoords: Any, cand: dict[str, Any], style: dict[str, Any]) -> Any:
        cand = dict(cand)
        arrow = cand.pop("arrow", False)
        ann = self.ax.annotate(
            text,
            xycoords=xycoords,
            textcoords="offset points",
            annotation_clip=False,
            arrowprops={"arrowstyle": "-", "color": "0.5", "lw": 0.6, "shrinkA": 1, "shrinkB": 3}
            if arrow
            else None,
            **cand,
            **style,
        )
        ann.set_in_layout(False)
        return ann

    def _size(self, text: str, rotation: float, style: dict[str, Any]) -> tuple[float, float]:
        """Width and height (display units) of the text, measured once."""
        from matplotlib.text import Text

        probe = Text(
            0, 0, text, rotation=rotation, figure=self.fig, **{k: v for k, v in style.items() if k != "bbox"}
        )
        bb = probe.get_window_extent(self.renderer)
        return bb.width, bb.height

    def _box(
        self, cand: dict[str, Any], xycoords: Any, size: tuple[float, float]
    ) -> tuple[float, float, float, float]:
        """The display box of the text and its background for one candidate placement."""
        trans = self.ax.transData if xycoords == "data" else xycoords
        px, py = trans.transform(np.asarray(cand["xy"], dtype=float))
        dx, dy = cand.get("xytext", (0, 0))
        k = self.fig.dpi / 72.0
        ax_, ay_ = px + dx * k, py + dy * k
        w, h = size
        left = {"left": ax_, "center": ax_ - w / 2, "right": ax_ - w}[cand.get("ha", "left")]
        bottom = {"bottom": ay_, "center": ay_ - h / 2, "top": ay_ - h}[cand.get("va", "bottom")]
        p = self.pad  # about the white background's padding
        return (left - p, bottom - p, left + w + p, bottom + h + p)

    def _leader(
        self, xy: tuple[float, float], xycoords: Any, box: tuple[float, float, float, float]
    ) -> np.ndarray:
        """Sample points (display) of a leader line from the text box to its point, minus the point's marker."""
        trans = self.ax.transData if xycoords == "data" else xycoords
        px, py = trans.transform(np.asarray(xy, dtype=float))
        qx, qy = min(max(px, box[0]), box[2]), min(max(py, box[1]), box[3])
        length = math.hypot(qx - px, qy - py)
        skip = 7 * self.fig.dpi / 72.0
        if length <= skip:
            return np.zeros((0, 2))
        t = np.linspace(skip / length, 1.0, max(2, math.ceil(length / 2)))
        return np.column_stack([px + t * (qx - px), py + t * (qy - py)])

    @staticmethod
    def _hits_points(pts: np.ndarray, obstacles: np.ndarray) -> bool:
        if not len(pts) or not len(obstacles):
            return False
        o = obstacles[None, :, :]
        p = pts[:, None, :]
        inside = (
            (p[..., 0] > o[..., 0])
            & (p[..., 0] < o[..., 2])
            & (p[..., 1] > o[..., 1])
            & (p[..., 1] < o[..., 3])
        )
        return bool(inside.any())

    def avoid_path(self, xy: np.ndarray, transform: Any, strict: bool = False) -> None:
        """Treat a polyline (e.g. a front's step line) as a row of small obstacles."""
        if len(xy) < 2:
            return
        pts = transform.transform(np.asarray(xy, dtype=float))
        rows = []
        for (x0, y0), (x1, y1) in zip(pts[:-1], pts[1:], strict=True):
            n = max(2, math.ceil(math.hypot(x1 - x0, y1 - y0) / 3))
            rows.append(np.column_stack([np.linspace(x0, x1, n), np.linspace(y0, y1, n)]))
        seg = np.vstack(rows)
        boxes = np.column_stack([seg - 1.5, seg + 1.5])
        if strict:
            self.strict = np.vstack([self.strict, boxes])
        else:
            self.soft = np.vstack([self.soft, boxes])


def variants(label: str) -> list[str]:
    """A label on one line, then split over two lines (narrower, for crowded spots)."""
    words = label.split(" ")
    if len(words) < 2:
        return [label]
    half = (len(words) + 1) // 2
    return [label, " ".join(words[:half]) + "\n" + " ".join(words[half:])]


def point_candidates(xy: tuple[float, float], toward: tuple[int, int] = (-1, 1)) -> list[dict[str, Any]]:
    """Offsets around a point, close first, then farther with a leader line.

    ``toward`` is the preferred quadrant (for a front: the better direction of x and y,
    where no trial lies); the opposite side, where dominated trials crowd, comes last.
    """
    sx, sy = toward
    dirs = [(sx, sy), (0, sy), (sx, 0), (-sx, sy), (sx, -sy), (-sx, 0), (0, -sy), (-sx, -sy)]
    ha = {1: "left", 0: "center", -1: "right"}
    va = {1: "bottom", 0: "center", -1: "top"}
    out = []
    for k, arrow in ((5, False), (14, True), (24, True), (36, True), (52, True), (72, True)):
        for dx, dy in dirs:
            scale = 1.3 if 0 in (dx, dy) else 1.0
            out.append(
                {
                    "xy": xy,
                    "xytext": (dx * k * scale, dy * k * scale),
                    "ha": ha[dx],
                    "va": va[dy],
                    "arrow": arrow,
                }
            )
    return out


def vline_candidates(x: float) -> list[dict[str, Any]]:
    """Rotated label beside a vertical line (x in data, y in axes fraction), sliding down the line."""
    out = []
    for top in (0.985, 0.8, 0.62, 0.44, 0.26):
        for dx, ha in ((3, "left"), (-3, "right")):
            out.append({"xy": (x, top), "xytext": (dx, 0), "ha": ha, "va": "top", "rotation": 90})
    return out


def hline_candidates(y: float) -> list[dict[str, Any]]:
    """Label above or below a horizontal line (x in axes fraction, y in data)."""
    out = []
    for x, ha in ((0.99, "right"), (0.01, "left"), (0.5, "center")):
        for dy, va in ((2, "bottom"), (-2, "top")):
            out.append({"xy": (x, y), "xytext": (0, dy), "ha": ha, "va": va})
    return out
