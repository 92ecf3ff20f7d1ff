"""The reach chart: each bar's share printed on its bar (or, for a bar too short to hold
it, at its end and clear of the target's marker), and each target's value beside its
marker."""

from __future__ import annotations

from matplotlib.backends.backend_agg import FigureCanvasAgg

from handlers.insights.charts import reach_figure

ROWS = [
    ("AHP (role)", 0.62, 0.40),  # a wide bar passing its target
    ("Carer (role)", 0.12, 0.10),  # the marker sits where the figure would go
    ("Patient (role)", 0.02, 0.25),  # too short to hold its figure
    ("Student (role)", 0.03, 0.05),  # short, with the marker just past its end
    ("Under 18 (age band)", 0.0, 0.03),
]


def placed_texts():
    figure = reach_figure(ROWS, "Representation against targets")
    axes = figure.axes[0]
    renderer = FigureCanvasAgg(figure).get_renderer()
    to_data = axes.transData.inverted()
    return {
        text.get_text(): (text, text.get_window_extent(renderer).transformed(to_data))
        for text in axes.texts
    }


def test_each_share_is_on_its_bar_and_each_target_beside_its_marker() -> None:
    texts = placed_texts()
    for row, (_name, share, target) in enumerate(ROWS):
        share_text, box = texts[f"{share * 100:.0f}%"]
        marker = target * 100
        # The share's figure is on its own row and never covers the target's marker.
        assert box.y0 - 0.5 < row < box.y1 + 0.5
        assert not box.x0 <= marker <= box.x1, (share, target)
        if share >= 0.12:
            assert box.x0 >= 0 and box.x1 <= share * 100, "inside the bar"
            assert share_text.get_color() == "#ffffff"
        _target_text, target_box = texts[f"target {marker:.0f}%"]
        assert marker < target_box.x0 < marker + 8, "beside its marker"
        assert abs((target_box.y0 + target_box.y1) / 2 - row) < 0.5
