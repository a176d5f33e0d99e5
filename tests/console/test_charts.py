"""The overview's SVG charts: scaled into their box, labelled, escaped."""

from __future__ import annotations

import re

from hubsync.console.charts import Series, sparkline, summed


def test_points_are_scaled_into_the_box_and_the_label_says_the_range() -> None:
    svg = str(sparkline(Series("Events applied", "events/s", ((0, 0.0), (30, 5.0), (60, 10.0))), 100, 20))
    points = [tuple(map(float, p.split(","))) for p in re.search(r'points="([^"]+)"', svg).group(1).split()]
    assert points[0] == (2.0, 18.0) and points[-1] == (98.0, 2.0)
    assert 'aria-label="Events applied: latest 10 events/s, range 0 to 10 over 3 samples"' in svg


def test_no_data_and_markup_in_titles() -> None:
    svg = str(sparkline(Series("<script>", "x", ())))
    assert "no data" in svg and "<script>" not in svg and "&lt;script&gt;" in svg


def test_series_are_summed_on_shared_timestamps() -> None:
    assert summed([[(1, 1.0), (2, 2.0)], [(2, 3.0), (3, 1.0)]]) == ((1, 1.0), (2, 5.0), (3, 1.0))
