"""PNG charts for the team's chat: contributions per day by channel, sentiment by role
group, and representation against the targets.

Drawn with matplotlib's object API on the Agg canvas (no display, no global pyplot
state, safe in a worker thread). Made for a phone: 1200 x 900 pixels, large type,
labelled axes, and the Okabe-Ito palette, which stays distinct for the common kinds of
colour blindness. The data come from the same SQL aggregates as the reports.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any

from handlers.insights.context import Reporting
from handlers.insights.grouping import ROLE_QUESTION
from handlers.insights.reach import build_reach
from handlers.insights.scope import ReportScope

CHARTS = ("activity", "sentiment", "reach")
# Okabe & Ito (2008), "Color Universal Design".
OKABE_ITO = (
    "#0072B2",  # blue
    "#E69F00",  # orange
    "#009E73",  # bluish green
    "#CC79A7",  # reddish purple
    "#56B4E9",  # sky blue
    "#D55E00",  # vermillion
    "#F0E442",  # yellow
    "#000000",  # black
)
SENTIMENT_COLOURS = {
    "positive": "#009E73",
    "neutral": "#999999",
    "negative": "#D55E00",
    "unscored": "#F0E442",
}
SIZE_INCHES, DPI = (8, 6), 150
TITLE, LABEL, TICKS = 17, 15, 13  # font sizes in points, for a phone screen
SHORT_RANGE = 14  # days; up to this many, every day (or every other) gets a tick


@dataclass(frozen=True)
class Chart:
    name: str
    png: bytes
    caption: str


def _axes(title: str, xlabel: str, ylabel: str) -> tuple[Any, Any]:
    from matplotlib.figure import Figure  # imported when drawing: it takes a second

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=TITLE)
    axes.set_xlabel(xlabel, fontsize=LABEL)
    axes.set_ylabel(ylabel, fontsize=LABEL)
    axes.tick_params(labelsize=TICKS)
    return figure, axes


def _legend_below(figure: Any, axes: Any, title: str | None = None, handles: Any = None) -> None:
    """The legend under the plot, never over the bars."""
    if handles is None:
        handles, _labels = axes.get_legend_handles_labels()
    labels = [handle.get_label() for handle in handles]
    if not handles:
        return
    figure.legend(
        handles,
        labels,
        title=title,
        loc="outside lower center",
        ncols=min(len(handles), 4),
        fontsize=TICKS,
        title_fontsize=TICKS,
        frameon=False,
    )


def _no_data(axes: Any, text: str) -> None:
    axes.set_xticks([])
    axes.set_yticks([])
    axes.text(0.5, 0.5, text, ha="center", va="center", fontsize=LABEL, transform=axes.transAxes)


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def channel_colours(channels: Iterable[str]) -> dict[str, str]:
    """Colours for the channels a chart shows, assigned as it is drawn (no channel is
    named here): in order of name, so the same channels get the same colours."""
    names = sorted(set(channels))
    return {name: OKABE_ITO[number % len(OKABE_ITO)] for number, name in enumerate(names)}


def draw_activity(days: list[date], series: dict[str, list[int]], title: str) -> bytes:
    from matplotlib.dates import (
        AutoDateLocator,
        ConciseDateFormatter,
        DateFormatter,
        DayLocator,
        date2num,
    )

    figure, axes = _axes(title, "Day (UTC)", "Contributions")
    bottom = [0] * len(days)
    colours = channel_colours(series)
    for channel, counts in series.items():
        colour = colours[channel]
        axes.bar(days, counts, bottom=bottom, label=channel, color=colour, width=0.8)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if days:
        # Whole days only: a short range must not be labelled in hours.
        axes.set_xlim(date2num(days[0]) - 0.7, date2num(days[-1]) + 0.7)
        if len(days) <= SHORT_RANGE:
            axes.xaxis.set_major_locator(DayLocator(interval=1 if len(days) <= 7 else 2))
            axes.xaxis.set_major_formatter(DateFormatter("%d %b"))
        else:
            locator = AutoDateLocator(maxticks=8)
            axes.xaxis.set_major_locator(locator)
            axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes.yaxis.get_major_locator().set_params(integer=True)
        _legend_below(figure, axes, "Channel")
    else:
        _no_data(axes, "No contributions yet")
    axes.grid(axis="y", alpha=0.3)
    return _png(figure)


def draw_sentiment(groups: dict[str, dict[str, int]], title: str) -> bytes:
    figure, axes = _axes(title, "Share of contributions (%)", "Role group (when they wrote)")
    names = list(groups)
    left = [0.0] * len(names)
    for label, colour in SENTIMENT_COLOURS.items():
        shares = [
            groups[name].get(label, 0) / (sum(groups[name].values()) or 1) * 100 for name in names
        ]
        axes.barh(
            names, shares, left=left, color=colour, label=label, edgecolor="white", linewidth=1
        )
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for row, name in enumerate(names):
        axes.text(101, row, f"n={sum(groups[name].values())}", va="center", fontsize=TICKS)
    axes.set_xlim(0, 118)
    axes.set_xticks([0, 25, 50, 75, 100])
    axes.invert_yaxis()
    if names:
        _legend_below(figure, axes, "Sentiment")
    else:
        _no_data(axes, "No contributions yet")
    return _png(figure)


def draw_reach(rows: list[tuple[str, float, float]], title: str) -> bytes:
    """rows: (group, share, target) with shares 0..1."""
    return _png(reach_figure(rows, title))


# A share is printed inside its bar when the bar is at least this part of the axis wide.
INSIDE_BAR = 0.12


def reach_figure(rows: list[tuple[str, float, float]], title: str) -> Any:
    """Each bar's share printed on the bar, and each target's value beside its marker."""
    from matplotlib.lines import Line2D
    from matplotlib.patches import Patch

    figure, axes = _axes(title, "Share of participants (%)", "Group")
    names = [name for name, _share, _target in rows]
    shares = [share * 100 for _name, share, _target in rows]
    targets = [target * 100 for _name, _share, target in rows]
    below, met = OKABE_ITO[5], OKABE_ITO[0]
    colours = [below if s < t else met for s, t in zip(shares, targets, strict=True)]
    axes.barh(names, shares, color=colours, height=0.7)
    axes.scatter(targets, names, marker="D", s=90, color="#000000", zorder=3)
    right = max([*shares, *targets, 10]) * 1.3
    gap = right * 0.015
    # Widths in axis units, from the figure's size: a character of the share's figure,
    # and half the target's marker.
    char, marker = right * 0.026, right * 0.022
    for row, (share, target) in enumerate(zip(shares, targets, strict=True)):
        figure_text = f"{share:.0f}%"
        width = char * len(figure_text)
        end = share - gap
        if end - width < target + marker and target - marker < end:
            end = target - marker - gap  # left of the marker, when it is on the figure
        if share >= right * INSIDE_BAR and end - width >= 0:
            at, align, colour = end, "right", "#ffffff"  # white, inside the bar
        else:
            # Too narrow to hold its figure: printed at the bar's end, or past the
            # target's marker when the marker is in the way.
            start = share + gap
            if start < target + marker and target - marker < start + width:
                start = target + marker + gap
            at, align, colour = start, "left", "#000000"
        axes.text(
            at,
            row + 0.05,
            figure_text,
            ha=align,
            va="center",
            color=colour,
            fontsize=TICKS,
            fontweight="bold",
            zorder=4,
        )
        # Above the bar's middle, beside the marker, boxed so a bar behind it never hides it.
        axes.text(target + gap * 2, row - 0.33, f"target {target:.0f}%", ha="left",
                  va="center", fontsize=TICKS - 2, color="#000000", zorder=5,
                  bbox={"boxstyle": "round,pad=0.15", "facecolor": "#ffffff",
                        "edgecolor": "none", "alpha": 0.85})  # fmt: skip
    axes.set_xlim(0, right)
    axes.invert_yaxis()
    axes.grid(axis="x", alpha=0.3)
    if rows:
        handles = [
            Patch(color=below, label="below target"),
            Patch(color=met, label="at or above target"),
            Line2D([], [], marker="D", color="#000000", linestyle="", markersize=9,
                   label="target"),
        ]  # fmt: skip
        _legend_below(figure, axes, handles=handles)
    else:
        _no_data(axes, "No representation targets in config.yaml")
    return figure


async def make_chart(reporting: Reporting, name: str, scope: ReportScope) -> Chart:
    """Fetch the chart's figures (async, SQL aggregates) and draw it (CPU; the caller may
    run `Chart` drawing in a thread via `chart_data` and `draw`)."""
    title, draw, args = await chart_data(reporting, name, scope)
    return Chart(name, draw(*args), title)


async def chart_data(
    reporting: Reporting, name: str, scope: ReportScope
) -> tuple[str, Callable[..., bytes], tuple[Any, ...]]:
    """(caption, drawing function, its arguments) for a chart; the drawing is CPU-bound."""
    where = reporting.store_scope(scope)
    covers = scope.describe()
    if name == "activity":
        totals: dict[str, dict[date, int]] = defaultdict(lambda: defaultdict(int))
        async with reporting.store.reader() as unit:
            for kind in ("idea", "comment"):
                for day, channel, count in await unit.insights.activity_by_day(
                    where, kind, "channel"
                ):
                    totals[channel][day] += count
        days = sorted({day for per_day in totals.values() for day in per_day})
        if days:
            days = [
                date.fromordinal(o) for o in range(days[0].toordinal(), days[-1].toordinal() + 1)
            ]
        series = {
            channel: [per_day.get(day, 0) for day in days]
            for channel, per_day in sorted(totals.items(), key=lambda i: -sum(i[1].values()))
        }
        title = f"Contributions per day by channel\n{covers}"
        return title, draw_activity, (days, series, title)
    if name == "sentiment":
        grouping = reporting.grouping
        groups: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
        async with reporting.store.reader() as unit:
            for kind, dimension, value, count in await unit.insights.activity(where):
                if kind != "vote" and dimension == "role_label":
                    role, _, label = value.rpartition("|")
                    group = reporting.label(ROLE_QUESTION, grouping.group(role))
                    groups[group][label] += count
        ordered = dict(sorted(groups.items(), key=lambda i: -sum(i[1].values())))
        title = f"Sentiment by role\n{covers}"
        return title, draw_sentiment, (ordered, title)
    if name == "reach":
        data = await build_reach(reporting, scope)
        rows = [
            (f"{gap['label']} ({gap['question'].replace('_', ' ')})", gap["share"], gap["target"])
            for gap in data["gaps"]
        ]
        title = f"Representation against targets\n{covers}"
        return title, draw_reach, (rows, title)
    raise ValueError(f"unknown chart {name!r}; choose from {', '.join(CHARTS)}")
