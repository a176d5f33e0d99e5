"""Small time-series charts as inline SVG, drawn on the server (no JavaScript, no chart library)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup


@dataclass(frozen=True, slots=True)
class Series:
    """``points``: (Unix seconds, value), in time order."""

    title: str
    unit: str
    points: tuple[tuple[float, float], ...]

    @property
    def latest(self) -> float | None:
        return self.points[-1][1] if self.points else None


def _number(value: float) -> str:
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


_EMPTY = Markup(
    '<svg class="chart" role="img" aria-label="{label}" width="{width}" height="{height}"'
    ' viewBox="0 0 {width} {height}"><title>{label}</title>'
    '<text x="4" y="{middle}" class="chart-empty">no data</text></svg>'
)
_LINE = Markup(
    '<svg class="chart" role="img" aria-label="{label}" width="{width}" height="{height}"'
    ' viewBox="0 0 {width} {height}"><title>{label}</title>'
    '<polyline fill="none" stroke="currentColor" stroke-width="1.5" points="{points}"/>{dot}</svg>'
)
_DOT = Markup('<circle cx="{x}" cy="{y}" r="2" fill="currentColor"/>')


def sparkline(series: Series, width: int = 240, height: int = 48) -> Markup:
    """An SVG polyline of the series scaled into ``width`` x ``height``, with its range as the title
    (read by screen readers and shown on hover). Every value is escaped by ``Markup.format``."""
    if not series.points:
        return _EMPTY.format(label=f"{series.title}: no data", width=width, height=height, middle=height // 2)
    times = [t for t, _ in series.points]
    values = [v for _, v in series.points]
    t0, t1 = min(times), max(times)
    low, high = min(0.0, min(values)), max(values)
    span_t, span_v = (t1 - t0) or 1.0, (high - low) or 1.0
    pad = 2
    coords = " ".join(
        f"{pad + (t - t0) / span_t * (width - 2 * pad):.1f},"
        f"{height - pad - (v - low) / span_v * (height - 2 * pad):.1f}"
        for t, v in series.points
    )
    label = (
        f"{series.title}: latest {_number(values[-1])} {series.unit}, range {_number(min(values))}"
        f" to {_number(max(values))} over {len(values)} samples"
    )
    last_x, last_y = coords.rsplit(" ", 1)[-1].split(",")
    # the latest point as a dot: a line of one sample would not show at all
    dot = _DOT.format(x=last_x, y=last_y)
    return _LINE.format(label=label, width=width, height=height, points=coords, dot=dot)


def summed(series: Sequence[Sequence[tuple[float, float]]]) -> tuple[tuple[float, float], ...]:
    """Several series added point by point on their shared timestamps."""
    totals: dict[float, float] = {}
    for points in series:
        for t, v in points:
            totals[t] = totals.get(t, 0.0) + v
    return tuple(sorted(totals.items()))
