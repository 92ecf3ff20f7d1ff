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
from dataclasses import dataclass
from datetime import date

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
TITLE, LABEL, TICKS = 15, 14, 12  # font sizes in points, for a phone screen


@dataclass(frozen=True)
class Chart:
    name: str
    png: bytes
    caption: str


def _axes(title: str, xlabel: str, ylabel: str):
    from matplotlib.figure import Figure  # imported when drawing: it takes a second

    figure = Figure(figsize=SIZE_INCHES, dpi=DPI, layout="constrained")
    axes = figure.add_subplot()
    axes.set_title(title, fontsize=TITLE)
    axes.set_xlabel(xlabel, fontsize=LABEL)
    axes.set_ylabel(ylabel, fontsize=LABEL)
    axes.tick_params(labelsize=TICKS)
    return figure, axes


def _png(figure) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    buffer = io.BytesIO()
    FigureCanvasAgg(figure).print_png(buffer)
    return buffer.getvalue()


def draw_activity(days: list[date], series: dict[str, list[int]], title: str) -> bytes:
    figure, axes = _axes(title, "Day (UTC)", "Contributions")
    bottom = [0] * len(days)
    for (channel, counts), colour in zip(series.items(), OKABE_ITO, strict=False):
        axes.bar(days, counts, bottom=bottom, label=channel, color=colour, width=0.8)
        bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    if days:
        from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

        locator = AutoDateLocator(maxticks=8)
        axes.xaxis.set_major_locator(locator)
        axes.xaxis.set_major_formatter(ConciseDateFormatter(locator))
        axes.legend(title="Channel", loc="upper left", fontsize=TICKS, title_fontsize=TICKS)
    else:
        axes.text(0.5, 0.5, "No contributions yet", ha="center", transform=axes.transAxes)
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
        axes.barh(names, shares, left=left, color=colour, label=label)
        left = [a + b for a, b in zip(left, shares, strict=True)]
    for row, name in enumerate(names):
        axes.text(101, row, f"n={sum(groups[name].values())}", va="center", fontsize=TICKS)
    axes.set_xlim(0, 118)
    axes.invert_yaxis()
    if not names:
        axes.text(0.5, 0.5, "No contributions yet", ha="center", transform=axes.transAxes)
    axes.legend(title="Sentiment", loc="lower right", ncols=2, fontsize=TICKS)
    return _png(figure)


def draw_reach(rows: list[tuple[str, float, float]], title: str) -> bytes:
    """rows: (group, share, target) with shares 0..1."""
    figure, axes = _axes(title, "Share of participants (%)", "Group")
    names = [name for name, _share, _target in rows]
    shares = [share * 100 for _name, share, _target in rows]
    targets = [target * 100 for _name, _share, target in rows]
    colours = [
        OKABE_ITO[5] if share < target else OKABE_ITO[0]
        for share, target in zip(shares, targets, strict=True)
    ]
    axes.barh(names, shares, color=colours, label="share (vermillion: below target)")
    axes.scatter(targets, names, marker="D", s=80, color="#000000", zorder=3, label="target")
    axes.invert_yaxis()
    axes.legend(loc="lower right", fontsize=TICKS)
    axes.grid(axis="x", alpha=0.3)
    return _png(figure)


async def make_chart(reporting: Reporting, name: str, scope: ReportScope) -> Chart:
    """Fetch the chart's figures (async, SQL aggregates) and draw it (CPU; the caller may
    run `Chart` drawing in a thread via `chart_data` and `draw`)."""
    title, draw, args = await chart_data(reporting, name, scope)
    return Chart(name, draw(*args), title)


async def chart_data(reporting: Reporting, name: str, scope: ReportScope):
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
