"""The report's charts' drawing kit: matplotlib figures without pyplot (no global figure state), as inline SVG.

Invariant: every setting is applied in an `rc_context` (`RC`), never globally, and `inline_svg`
returns a fragment that can sit beside others in one page: no XML prologue, metadata or global
style, every id prefixed with the chart's name, text left as text (the page's fonts) and "$" not
read as mathtext. matplotlib (the `advise` extra) is imported inside the functions.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure
    from matplotlib.typing import RcKeyType

INK, MUTED, GRID, LIMIT = "#1f2430", "#5b6270", "#e3e6eb", "#C0392B"

RC: dict[RcKeyType, Any] = {
    "svg.fonttype": "none",  # text stays text: smaller, selectable, drawn in the page's fonts
    "text.parse_math": False,  # a "$" in a door's title is a dollar, not mathtext
    "font.size": 10,
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Arial", "Helvetica"],
    "axes.edgecolor": "#c9ced6",
    "axes.labelcolor": MUTED,
    "xtick.color": MUTED,
    "ytick.color": INK,
    "axes.axisbelow": True,
}


def new_figure(height: float) -> Figure:
    """A figure of the report's width and `height` inches, laid out to fit its labels."""
    from matplotlib.figure import Figure

    return Figure(figsize=(5.8, height), layout="constrained")


def door_figure(rows: int) -> tuple[Figure, Axes]:
    """A figure with one axes, tall enough for `rows` doors one under another."""
    figure = new_figure(max(2.2, 0.5 + 0.62 * rows))
    return figure, figure.add_subplot()


def door_axis(axes: Axes, labels: list[str]) -> None:
    """One door a row, top to bottom, labelled."""
    axes.set_yticks(range(len(labels)), labels, fontsize=9)
    axes.set_ylim(len(labels) - 0.5, -0.5)
    axes.tick_params(axis="y", length=0)
    style_axes(axes)


def log_ms_axis(axes: Axes, label: str, number: Callable[[float], str]) -> None:
    """A log axis of milliseconds, ticks written by `number` (a decade each), gridded."""
    from matplotlib.ticker import FuncFormatter, LogLocator

    axes.set_xscale("log")
    axes.xaxis.set_major_locator(LogLocator(base=10))
    axes.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{number(value)} ms"))
    axes.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    axes.set_xlabel(label)
    axes.grid(axis="x", which="major", color=GRID, linewidth=0.8)


def style_axes(axes: Axes) -> None:
    """No top or right frame."""
    for side in ("top", "right"):
        axes.spines[side].set_visible(False)


def inline_svg(figure: Figure, name: str) -> str:
    """The figure as inline SVG: no XML prologue, metadata or global style; ids prefixed with `name`; scalable."""
    import matplotlib

    settings: dict[RcKeyType, Any] = {**RC, "svg.hashsalt": name}
    with matplotlib.rc_context(settings):
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None, "Format": None,
                                                       "Type": None})
    svg = buffer.getvalue()
    svg = svg[svg.index("<svg"):]
    svg = re.sub(r"<metadata>.*?</metadata>|<style[^>]*>.*?</style>|<!--.*?-->", "", svg, flags=re.S)
    svg = re.sub(r'\s(?:xmlns(?::\w+)?|width|height|version)="[^"]*"', "", svg[:svg.index(">")]) + svg[svg.index(">"):]
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{name}-\1"', svg)
    svg = re.sub(r'(href="#|url\(#)', rf"\g<1>{name}-", svg)
    return svg.replace("<svg", f'<svg role="img" aria-labelledby="chart-{name}"', 1)


def with_chart_style(draw: Callable[[], str | None]) -> str | None:
    """`draw()` under the report's matplotlib settings (RC), which leave matplotlib's global ones alone."""
    import matplotlib

    with matplotlib.rc_context(RC):
        return draw()
