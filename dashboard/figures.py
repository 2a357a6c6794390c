"""Every Plotly figure of the dashboard: pure functions, data in, ``go.Figure`` out (no Streamlit here).

Families are told apart by colour and by line or marker, never by colour alone: the colours are the
Okabe–Ito palette (safe for colour-blind viewers): plain nets vermillion and dashed, ResNets (option A)
blue and solid, ResNets with projection shortcuts (option B) bluish green and dash-dotted, concat + 1x1
merge nets orange and dotted, torchvision's ResNet-18 reddish purple; a deeper net of a family is drawn
darker. Where a chart draws training and test curves, as in the paper's Fig. 6 test curves are solid and
training curves dashed, and the family shows in the marker (plain squares, ResNet circles).
``projector`` enlarges a figure's text for a room (PROJECTOR_FONT px and up).
Values that cannot be drawn (NaN, infinities, and zeros or negatives on a
log axis) are left out as gaps, and figures say how many were left out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from core.analysis.paper import REIMPLEMENTATION_TEST_ERROR as REIMPLEMENTATION_TABLE
from core.analysis.paper import TABLE6_110_MEAN_STD
from core.analysis.paper import TABLE6_PARAMS_M as PAPER_PARAMS_M
from core.analysis.paper import TABLE6_TEST_ERROR as PAPER_TABLE6

# ------------------------------------------------------------------------------- shared style

OKABE_ITO = {  # Okabe & Ito (2008), "Color Universal Design": told apart with every common colour-vision deficiency
    "orange": "#E69F00",
    "sky blue": "#56B4E9",
    "bluish green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "reddish purple": "#CC79A7",
    "black": "#000000",
}
FAMILY_COLOUR_NAMES = {
    "plain": "vermillion",
    "resnet": "blue",
    "resnet-b": "bluish green",
    "dense": "orange",
    "torchvision": "reddish purple",
}
FAMILY_COLOURS = {family: OKABE_ITO[name] for family, name in FAMILY_COLOUR_NAMES.items()}
FAMILY_DASH = {"plain": "dash", "resnet": "solid", "resnet-b": "dashdot", "dense": "dot", "torchvision": "longdash"}
FAMILY_SYMBOL = {
    "plain": "square",
    "resnet": "circle",
    "resnet-b": "diamond",
    "dense": "triangle-up",
    "torchvision": "x",
}
FAMILY_NAMES = {
    "plain": "plain net",
    "resnet": "ResNet (A, identity)",
    "resnet-b": "ResNet (B, projection)",
    "dense": "concat + 1×1 merge",
    "torchvision": "torchvision ResNet-18",
}
DASH_WORDS = {"solid": "solid", "dash": "dashed", "dashdot": "dash-dotted", "dot": "dotted", "longdash": "long-dashed"}
SYMBOL_WORDS = {
    "square": "squares",
    "circle": "circles",
    "diamond": "diamonds",
    "triangle-up": "triangles",
    "x": "crosses",
}
COLOUR_NAMES = FAMILY_COLOUR_NAMES
TEMPLATE = "plotly_white"
PERCENT_RANGE = [0, 100]  # the fixed axis of an error or an accuracy, so that charts of a lesson compare at a glance
METRIC_AXIS = {"loss": "cross-entropy loss (nats)", "acc": "accuracy (%)", "error": "error (%)"}
PROBE_AXIS = {
    "grad_w": "‖∂L/∂W‖ (log scale)",
    "grad_out": "‖∂L/∂y‖ (log scale)",
    "response_std": "std of the layer response",
    "weight_norm": "‖W‖ (log scale)",
}
PROBE_SHORT = {"grad_w": "‖∂L/∂W‖", "grad_out": "‖∂L/∂y‖", "response_std": "response std", "weight_norm": "‖W‖"}


def model_family(shortcut: str, arch: str = "cifar") -> str:
    """'plain' | 'resnet' | 'resnet-b' | 'dense' | 'torchvision' for a config's shortcut and arch."""
    if arch != "cifar":
        return "torchvision"
    return {"none": "plain", "A": "resnet", "B": "resnet-b", "concat": "dense"}.get(shortcut, "resnet")


def _mix(hex_colour: str, other: tuple[int, int, int], amount: float) -> str:
    rgb = [int(hex_colour[i : i + 2], 16) for i in (1, 3, 5)]
    mixed = [round(c + (o - c) * amount) for c, o in zip(rgb, other)]
    return "#" + "".join(f"{c:02x}" for c in mixed)


def model_colour(family: str, depth: int | None = None) -> str:
    """The family's colour, lighter for shallow nets and darker for deep ones (8 … 110+ layers)."""
    base = FAMILY_COLOURS.get(family, "#7f7f7f")
    if not depth:
        return base
    t = min(1.0, max(0.0, (math.log(depth) - math.log(8)) / (math.log(110) - math.log(8))))
    return _mix(base, (255, 255, 255), 0.55 * (1 - t)) if t < 0.5 else _mix(base, (0, 0, 0), 0.45 * (t - 0.5))


@dataclass(frozen=True)
class RunSeries:
    """One run's data for a figure: its legend label, family and depth (for the colour), and a frame."""

    label: str
    family: str
    depth: int
    frame: pd.DataFrame


def run_series(label: str, config, frame: pd.DataFrame) -> RunSeries:
    """A RunSeries from anything with ``shortcut``, ``arch`` and ``depth`` (a RunConfig)."""
    return RunSeries(label, model_family(config.shortcut, config.arch), config.depth, frame)


def _colours(series: list[RunSeries]) -> list[str]:
    """Family-and-depth colours, nudged apart when two runs would otherwise look the same."""
    colours, seen = [], {}
    for s in series:
        colour = model_colour(s.family, s.depth)
        n = seen.get(colour, 0)
        seen[colour] = n + 1
        if n:  # same family and depth (another seed, recipe...): alternate lighter and darker shades
            colour = _mix(colour, (255, 255, 255) if n % 2 else (0, 0, 0), min(0.6, 0.2 * ((n + 1) // 2)))
        colours.append(colour)
    return colours


def _finite(values, log: bool = False) -> np.ndarray:
    """Float array with NaN where a value cannot be drawn (non-finite, or <= 0 on a log axis)."""
    v = pd.to_numeric(pd.Series(values), errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(v) | ((v <= 0) if log else False)
    return np.where(bad, np.nan, v)


def _style(
    fig: go.Figure, title: str, x_title: str, y_title: str, *, height: int = 420, legend: bool = True
) -> go.Figure:
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=title, x=0.0, xanchor="left"),
        height=height,
        margin=dict(l=60, r=20, t=70, b=55),
        hovermode="closest",
        showlegend=legend,
        legend=dict(orientation="h", yanchor="top", y=-0.18, x=0, xanchor="left"),
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title)
    return fig


# ------------------------------------------------------------------------------- projector mode

PROJECTOR_FONT = 18  # px: the smallest chart text in projector mode (ticks, legends, annotations at 1920×1080)
PROJECTOR_TITLE = 24
PROJECTOR_HEIGHT = 1.3  # charts grow by this factor so that the larger text keeps its room


def _bigger(size, least: int = PROJECTOR_FONT) -> int:
    return max(least, int(size or 0))


def projector(fig: go.Figure, least: int = PROJECTOR_FONT) -> go.Figure:
    """A copy of ``fig`` for a projector: every text (base font, ticks, axis and colour-bar titles, legend,
    annotations, subtitle, hover labels) at least ``least`` px, the title ``PROJECTOR_TITLE``, and the chart
    taller with wider margins to hold them."""
    fig = go.Figure(fig)
    layout = fig.layout
    fig.update_layout(
        font_size=_bigger(layout.font.size, least),
        title_font_size=_bigger(layout.title.font.size, PROJECTOR_TITLE),
        legend_font_size=_bigger(layout.legend.font.size, least),
        hoverlabel_font_size=_bigger(layout.hoverlabel.font.size, least),
    )
    if layout.title.subtitle.text:
        fig.update_layout(title_subtitle_font_size=_bigger(layout.title.subtitle.font.size, least))
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
        axis.update(
            tickfont_size=_bigger(axis.tickfont.size, least), title_font_size=_bigger(axis.title.font.size, least)
        )
    fig.for_each_annotation(lambda a: a.update(font_size=_bigger(a.font.size, least)))
    for trace in fig.data:
        if "colorbar" in trace:
            bar = trace.colorbar
            trace.update(
                colorbar=dict(
                    tickfont_size=_bigger(bar.tickfont.size, least), title_font_size=_bigger(bar.title.font.size, least)
                )
            )
        if getattr(trace, "textfont", None) is not None and trace.type in ("bar", "heatmap", "scatter"):
            trace.update(textfont_size=_bigger(trace.textfont.size, least))
    if "coloraxis" in layout and layout.coloraxis.colorbar is not None:
        bar = layout.coloraxis.colorbar
        fig.update_layout(coloraxis_colorbar=dict(tickfont_size=_bigger(bar.tickfont.size, least)))
    margin = layout.margin
    fig.update_layout(
        height=round((layout.height or 450) * PROJECTOR_HEIGHT),
        margin=dict(
            l=max(80, margin.l or 0),
            r=max(30, margin.r or 0),
            t=max(150 if layout.title.subtitle.text else 100, margin.t or 0),
            b=max(80, margin.b or 0),
        ),
    )
    return fig


def text_sizes(fig: go.Figure) -> dict[str, float]:
    """The size in px each kind of text of ``fig`` is drawn at (the base font where a text sets none; Plotly's
    default base is 12): base, title, legend, every axis's ticks and title, every annotation, every colour bar."""
    base = fig.layout.font.size or 12
    sizes = {
        "base": base,
        "title": fig.layout.title.font.size or base * 1.4,
        "legend": fig.layout.legend.font.size or base,
    }
    for axis in [*fig.select_xaxes(), *fig.select_yaxes()]:
        name = axis.plotly_name
        sizes[f"{name} ticks"] = axis.tickfont.size or base
        if axis.title.text:
            sizes[f"{name} title"] = axis.title.font.size or base
    for i, a in enumerate(fig.layout.annotations):
        sizes[f"annotation {i}"] = a.font.size or base
    for i, trace in enumerate(fig.data):
        if "colorbar" in trace and (trace.showscale is not False):
            sizes[f"colour bar {i}"] = trace.colorbar.tickfont.size or base
    return sizes


def _note(fig: go.Figure, text: str) -> None:
    """A small grey line under the title (e.g. how many values were left out), clear of any panel titles."""
    previous = fig.layout.title.subtitle.text
    fig.update_layout(
        title=dict(subtitle=dict(text=f"{previous}; {text}" if previous else text, font=dict(size=12, color="#666"))),
        margin=dict(t=max(fig.layout.margin.t or 0, 85)),
    )


def _count(n: int, one: str, many: str) -> str:
    return f"{n} {one if n == 1 else many}"


def note_text(fig: go.Figure) -> str:
    """The note line of a figure ('' if none)."""
    return fig.layout.title.subtitle.text or ""


def empty_figure(message: str, title: str = "") -> go.Figure:
    """A blank chart that says why it is blank, instead of an empty white area."""
    fig = go.Figure()
    fig.add_annotation(
        text=message, xref="paper", yref="paper", x=0.5, y=0.5, showarrow=False, font=dict(size=14, color="#666")
    )
    fig.update_xaxes(visible=False)
    fig.update_yaxes(visible=False)
    fig.update_layout(template=TEMPLATE, title=title, height=300, margin=dict(l=20, r=20, t=60, b=20))
    return fig


# ------------------------------------------------------------------------------- Home: concepts


DIAGRAM_INK = "#333"


def _diagram_box(fig: go.Figure, xc: float, yc: float, text: str, colour: str) -> None:
    fig.add_shape(
        type="rect",
        x0=xc - 1.3,
        x1=xc + 1.3,
        y0=yc - 0.45,
        y1=yc + 0.45,
        line=dict(color=colour, width=2),
        fillcolor=_mix(colour, (255, 255, 255), 0.85),
    )
    fig.add_annotation(x=xc, y=yc, text=text, showarrow=False, font=dict(size=13, color=DIAGRAM_INK))


def _diagram_arrow(fig: go.Figure, x0: float, y0: float, x1: float, y1: float, colour: str = DIAGRAM_INK) -> None:
    fig.add_annotation(
        x=x1,
        y=y1,
        ax=x0,
        ay=y0,
        xref="x",
        yref="y",
        axref="x",
        ayref="y",
        text="",
        showarrow=True,
        arrowhead=2,
        arrowsize=1.2,
        arrowwidth=1.8,
        arrowcolor=colour,
    )


def _diagram_label(fig: go.Figure, x, y, text: str, size=13, colour=DIAGRAM_INK, anchor="center") -> None:
    fig.add_annotation(x=x, y=y, text=text, showarrow=False, xanchor=anchor, font=dict(size=size, color=colour))


def _diagram_block(fig: go.Figure, xc: float, colour: str, residual: bool) -> None:
    """One block of the diagram, centred at ``xc``: two conv layers, and for a residual block the identity
    shortcut into the addition."""
    _diagram_label(fig, xc, 10.6, "<b>residual block</b>" if residual else "<b>plain block</b>", 15, colour)
    _diagram_label(fig, xc, 9.6, "<i>x</i>", 16)
    _diagram_arrow(fig, xc, 9.3, xc, 8.5)
    _diagram_box(fig, xc, 8.0, "3×3 conv → BN", colour)
    _diagram_arrow(fig, xc, 7.55, xc, 6.95)
    _diagram_label(fig, xc + 0.15, 7.25, "ReLU", 11, "#666", "left")
    _diagram_box(fig, xc, 6.5, "3×3 conv → BN", colour)
    if residual:
        fig.add_shape(type="circle", x0=xc - 0.3, x1=xc + 0.3, y0=4.95, y1=5.55, line=dict(color=DIAGRAM_INK, width=2))
        _diagram_label(fig, xc, 5.25, "+", 18)
        _diagram_arrow(fig, xc, 6.05, xc, 5.57)
        # the identity shortcut: around the two layers, into the addition
        fig.add_shape(
            type="path",
            path=f"M {xc} 9.15 L {xc + 2.2} 9.15 L {xc + 2.2} 5.25 L {xc + 0.35} 5.25",
            line=dict(color=colour, width=2.5, dash="dot"),
        )
        _diagram_arrow(fig, xc + 0.9, 5.25, xc + 0.32, 5.25, colour)
        _diagram_label(fig, xc + 2.35, 7.25, "identity<br><i>x</i>", 12, colour, "left")
        _diagram_label(fig, xc - 1.45, 7.25, "<i>F</i>(<i>x</i>)", 14, colour, "right")
        _diagram_arrow(fig, xc, 4.93, xc, 4.2)
        output = "<i>F</i>(<i>x</i>) + <i>x</i>"
        note = (
            "learns only the change<br><i>F</i>(<i>x</i>) = <i>H</i>(<i>x</i>) − <i>x</i>;"
            "<br><i>F</i> = 0 keeps <i>x</i> as it is"
        )
    else:
        _diagram_arrow(fig, xc, 6.05, xc, 4.2)
        output = "<i>H</i>(<i>x</i>)"
        note = (
            "must learn the whole<br>mapping <i>H</i>(<i>x</i>); the paper's hypothesis:<br>even copying "
            "<i>x</i> is hard to learn"
        )
    _diagram_label(fig, xc + 0.15, 4.55, "ReLU", 11, "#666", "left")
    _diagram_label(fig, xc, 3.85, output, 16)
    _diagram_label(fig, xc, 2.9, note, 12, "#444")


def residual_block_diagram() -> go.Figure:
    """The paper's Fig. 2 drawn with shapes: a plain block learns H(x); a residual block learns
    F(x) = H(x) − x and adds x back through an identity shortcut."""
    fig = go.Figure()
    _diagram_block(fig, 2.5, FAMILY_COLOURS["plain"], residual=False)
    _diagram_block(fig, 8.0, FAMILY_COLOURS["resnet"], residual=True)
    fig.update_xaxes(visible=False, range=[-0.2, 11.2], fixedrange=True)
    fig.update_yaxes(visible=False, range=[2.1, 11.0], fixedrange=True)
    fig.update_layout(
        template=TEMPLATE,
        height=500,
        margin=dict(l=10, r=10, t=50, b=10),
        showlegend=False,
        title=dict(text="Plain block vs residual block (He et al. 2015, Fig. 2)", x=0.0, xanchor="left"),
    )
    return fig


def table6_figure() -> go.Figure:
    """CIFAR-10 test error against depth: the paper's Table 6 and a PyTorch reimplementation."""
    fig = go.Figure()
    depths = list(PAPER_TABLE6)
    fig.add_trace(
        go.Scatter(
            x=depths,
            y=[PAPER_TABLE6[d] for d in depths],
            mode="lines+markers+text",
            name="He et al. 2015 (Table 6)",
            line=dict(color=FAMILY_COLOURS["resnet"], width=3),
            marker=dict(size=9),
            text=[f"{PAPER_TABLE6[d]:.2f}" + (" (best of 5)" if d == 110 else "") for d in depths],
            textposition="top center",
            customdata=[PAPER_PARAMS_M[d] for d in depths],
            hovertemplate="ResNet-%{x}<br>test error %{y:.2f}%<br>%{customdata} M parameters<extra>paper</extra>",
        )
    )
    mean, std = TABLE6_110_MEAN_STD
    fig.add_trace(
        go.Scatter(
            x=[110],
            y=[mean],
            mode="markers",
            name="ResNet-110, mean ± std of the paper's 5 runs",
            marker=dict(color=FAMILY_COLOURS["resnet"], symbol="line-ew-open", size=14, line=dict(width=2)),
            error_y=dict(type="data", array=[std], color=FAMILY_COLOURS["resnet"], thickness=1.5, width=8),
            hovertemplate=f"ResNet-110: mean {mean:.2f} ± {std:.2f}% over 5 runs (Table 6 lists the best, "
            f"{PAPER_TABLE6[110]:.2f}%)<extra>paper</extra>",
        )
    )
    fig.add_trace(
        go.Scatter(
            x=depths,
            y=[REIMPLEMENTATION_TABLE[d] for d in depths],
            mode="lines+markers",
            name="PyTorch reimplementation (akamaster, 200 epochs)",
            line=dict(color=FAMILY_COLOURS["resnet-b"], width=2, dash="dash"),
            marker=dict(size=7),
            hovertemplate="ResNet-%{x}<br>test error %{y:.2f}%<extra>reimplementation</extra>",
        )
    )
    _style(
        fig,
        "CIFAR-10 test error of ResNets by depth: better from 20 to 110 layers, worse at 1202 (paper)",
        "depth (weighted layers, log scale)",
        "CIFAR-10 test error (%)",
        height=400,
    )
    fig.update_xaxes(type="log", tickvals=depths, ticktext=[str(d) for d in depths])
    fig.update_yaxes(range=[5.5, 9.5])
    fig.add_annotation(
        x=math.log10(1202),
        y=PAPER_TABLE6[1202],
        text="1202 layers: worse than 110<br>(the paper: overfitting, 19.4 M parameters)",
        showarrow=True,
        ax=-90,
        ay=-35,
        font=dict(size=11, color="#555"),
    )
    return fig


# ------------------------------------------------------------------------------ training curves


def _metric_values(frame: pd.DataFrame, column: str, metric: str) -> np.ndarray:
    """Loss as stored; accuracy (a fraction in the store) as %; error as 100 − accuracy %."""
    values = _finite(frame[column]) if column in frame else np.full(len(frame), np.nan)
    if metric == "acc":
        return 100 * values
    if metric == "error":
        return 100 * (1 - values)
    return values


def _auto_log(arrays: list[np.ndarray]) -> bool:
    """A log axis when positive values span more than three decades (e.g. a loss that blew up)."""
    values = np.concatenate([a[np.isfinite(a) & (a > 0)] for a in arrays]) if arrays else np.array([])
    return bool(len(values)) and values.max() / values.min() > 1e3


def ema(values: np.ndarray, weight: float) -> np.ndarray:
    """TensorBoard's smoothing: an exponential moving average of the finite values, debiased (divided by
    1 − weight^k after k values, so the first point is not pulled towards zero), with gaps (NaN, ±inf) left
    as gaps and skipped. Weight 0 returns the values unchanged.

    Equal to pandas' ``ewm(alpha=1 − weight, adjust=True)``: y_k = Σ w^i x_(k−i) / Σ w^i (vectorised)."""
    values = np.asarray(values, dtype=float)
    if weight <= 0:
        return values
    finite = np.isfinite(values)
    out = np.full(len(values), np.nan)
    out[finite] = pd.Series(values[finite]).ewm(alpha=1 - weight, adjust=True).mean().to_numpy()
    return out


def _fixed_percent(fig: go.Figure, metric: str, full_range: bool) -> None:
    """A 0–100% y-axis for error and accuracy when asked for, so runs and moments compare at a glance."""
    if full_range and metric in ("acc", "error"):
        fig.update_yaxes(range=[0, 100], autorange=False)


def _metric_axes(fig: go.Figure, title: str, x_title: str, metric: str, use_log: bool) -> None:
    """The title and axes of a chart of one metric (loss, accuracy or error), its y axis on a log scale if asked."""
    _style(fig, title, x_title, METRIC_AXIS[metric] + (" (log scale)" if use_log else ""))
    if use_log:
        fig.update_yaxes(type="log")


def step_curves(
    series: list[RunSeries],
    metric: str = "loss",
    smoothing: float = 0.6,
    title: str | None = None,
    log_y: bool | None = None,
    max_points: int = 2000,
    full_range: bool = False,
) -> go.Figure:
    """Per-step training loss, accuracy or error (frames: step, loss, acc). The raw values are drawn faintly
    under TensorBoard's debiased moving average (``smoothing`` in [0, 1)); long runs are thinned to about
    ``max_points`` points per curve after smoothing, so the browser stays quick. ``full_range``: a 0–100% axis."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No training steps recorded yet.", title or "Training, step by step")
    column = "loss" if metric == "loss" else "acc"
    fig = go.Figure()
    values = [_metric_values(s.frame, column, metric) for s in series]
    use_log = metric == "loss" and (_auto_log(values) if log_y is None else log_y)
    for s, colour, y in zip(series, _colours(series), values):
        x = s.frame["step"].to_numpy()
        smooth = ema(y, smoothing)
        keep = slice(None, None, max(1, math.ceil(len(x) / max_points)))
        x, y, smooth = x[keep], y[keep], smooth[keep]
        meta = dict(split="batch", family=s.family, depth=s.depth)
        if smoothing > 0:
            fig.add_trace(
                go.Scatter(
                    x=x,
                    y=y,
                    mode="lines",
                    line=dict(color=colour, width=1),
                    opacity=0.25,
                    legendgroup=s.label,
                    showlegend=False,
                    hoverinfo="skip",
                    meta={**meta, "raw": True},
                )
            )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=smooth,
                mode="lines",
                name=s.label,
                legendgroup=s.label,
                line=dict(color=colour, width=2.2, dash=FAMILY_DASH.get(s.family)),
                meta={**meta, "smoothing": smoothing},
                hovertemplate=f"{s.label}<br>step %{{x}}<br>{METRIC_AXIS[metric]}: %{{y:.3g}}<extra></extra>",
            )
        )
    what = {"loss": "Training loss", "acc": "Training accuracy", "error": "Training error"}[metric]
    _metric_axes(fig, title or f"{what} per step (mini-batch)", "training step", metric, use_log)
    _fixed_percent(fig, metric, full_range)
    if smoothing > 0:
        _note(fig, f"bold: moving average (smoothing {smoothing:.2f}); faint: each mini-batch")
    return fig


def lr_curves(series: list[RunSeries], title: str | None = None, max_points: int = 2000) -> go.Figure:
    """The learning rate of every training step (frames: step, lr), one line per run; a log axis for stairs
    spanning more than a decade and a half (the paper's ÷10 steps then read as equal steps)."""
    frames = [s.frame.dropna(subset=["lr"]) if "lr" in s.frame else s.frame.iloc[0:0] for s in series]
    if not frames or all(f.empty for f in frames):
        return empty_figure("No learning rate recorded yet.", title or "Learning rate per step")
    fig = go.Figure()
    values = [_finite(f["lr"], log=True) for f in frames]
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    # Stairs (÷10 steps, a warm-up) spanning more than a decade and a half read best on a log axis; a smooth decay
    # (cosine, which ends near zero) on a linear one.
    use_log = bool(len(finite)) and finite.max() / finite.min() > 30 and len(np.unique(finite)) <= 12
    for s, colour, frame, y in zip(series, _colours(series), frames, values):
        keep = slice(None, None, max(1, math.ceil(len(frame) / max_points)))
        fig.add_trace(
            go.Scatter(
                x=frame["step"].to_numpy()[keep],
                y=y[keep],
                mode="lines",
                name=s.label,
                legendgroup=s.label,
                line=dict(color=colour, width=2, shape="hv", dash=FAMILY_DASH.get(s.family)),
                meta=dict(split="lr", family=s.family, depth=s.depth),
                hovertemplate=f"{s.label}<br>step %{{x}}<br>learning rate %{{y:.3g}}<extra></extra>",
            )
        )
    _style(
        fig, title or "Learning rate per step", "training step", "learning rate" + (" (log scale)" if use_log else "")
    )
    if use_log:
        fig.update_yaxes(type="log", exponentformat="power")
    return fig


def epoch_curves(
    series: list[RunSeries],
    metric: str = "acc",
    splits: tuple[str, ...] = ("train", "test"),
    title: str | None = None,
    log_y: bool | None = None,
) -> go.Figure:
    """Per-epoch curves (frames: epoch, train_loss, train_acc, test_loss, test_acc): test solid,
    training dashed, as in the paper's Fig. 6."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure(
            "No finished epoch yet: the first point appears when epoch 1 ends.", title or "Per-epoch curves"
        )
    column = "loss" if metric == "loss" else "acc"
    traces = []
    for s, colour in zip(series, _colours(series)):
        for split in splits:
            y = _metric_values(s.frame, f"{split}_{column}", metric)
            traces.append((s, colour, split, y))
    use_log = metric == "loss" and (_auto_log([t[3] for t in traces]) if log_y is None else log_y)
    fig = go.Figure()
    for s, colour, split, y in traces:
        test = split == "test"
        fig.add_trace(
            go.Scatter(
                x=s.frame["epoch"],
                y=y,
                mode="lines+markers",
                name=f"{s.label} · {split}",
                legendgroup=s.label,
                line=dict(color=colour, width=3 if test else 1.6, dash="solid" if test else "dash"),
                marker=dict(size=7 if test else 5, symbol=FAMILY_SYMBOL.get(s.family, "circle")),
                hovertemplate=f"{s.label}<br>{split}, epoch %{{x}}<br>{METRIC_AXIS[metric]}: %{{y:.3g}}<extra></extra>",
            )
        )
    what = {"loss": "Loss", "acc": "Accuracy", "error": "Error"}[metric]
    _metric_axes(fig, title or f"{what} per epoch (solid: test, dashed: training)", "epoch", metric, use_log)
    max_epoch = max((int(s.frame["epoch"].max()) for s in series if not s.frame.empty), default=1)
    fig.update_xaxes(dtick=1 if max_epoch <= 20 else None, rangemode="tozero" if max_epoch <= 1 else "normal")
    return fig


# The curves of the paper's Fig. 6, and how each is measured.
SPLITS = {  # key: (legend, dash, width)
    "test": ("test", "solid", 3.0),
    "train": ("training (eval mode, end of epoch)", "dash", 2.0),
    "running": ("training (running mean over the epoch, train mode)", "dot", 1.2),
}


def training_points(epochs: pd.DataFrame, evals: pd.DataFrame | None = None) -> pd.DataFrame:
    """One long table of a run's curve points: epoch (fractional), split (a SPLITS key), loss, acc.

    test: every test evaluation during training (a test subset every k steps, the full test set at
    epoch ends), or the epoch ends only for runs recorded before those existed; train: the network in
    eval mode on a fixed training subset at each epoch's end, as the paper plots training error;
    running: the training-mode mean over the epoch's mini-batches (augmented, weights still moving).
    """
    frames = []
    if evals is not None and len(evals):
        # Step 0 is left out: before any step BN has no running statistics, so eval mode there is meaningless
        # (a ResNet-20's loss reads ~38, not the ln 10 of a guess).
        evals = evals[evals["step"] > 0]
        frames.append(
            pd.DataFrame({"epoch": evals["epoch"], "split": "test", "loss": evals["loss"], "acc": evals["acc"]})
        )
    elif len(epochs):
        frames.append(
            pd.DataFrame(
                {"epoch": epochs["epoch"], "split": "test", "loss": epochs["test_loss"], "acc": epochs["test_acc"]}
            )
        )
    if len(epochs) and "train_eval_acc" in epochs and epochs["train_eval_acc"].notna().any():
        frames.append(
            pd.DataFrame(
                {
                    "epoch": epochs["epoch"],
                    "split": "train",
                    "loss": epochs["train_eval_loss"],
                    "acc": epochs["train_eval_acc"],
                }
            )
        )
    if len(epochs):
        frames.append(
            pd.DataFrame(
                {"epoch": epochs["epoch"], "split": "running", "loss": epochs["train_loss"], "acc": epochs["train_acc"]}
            )
        )
    columns = ["epoch", "split", "loss", "acc"]
    return pd.concat(frames, ignore_index=True)[columns] if frames else pd.DataFrame(columns=columns)


def training_curves(
    series: list[RunSeries],
    metric: str = "error",
    splits: tuple[str, ...] = ("test", "train"),
    title: str | None = None,
    full_range: bool = False,
) -> go.Figure:
    """The paper's Fig. 6 view: frames from ``training_points``; test solid (many points per epoch),
    training error in eval mode dashed, the running training-mode mean dotted (if asked for)."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure(
            "No evaluation yet: the first test point is the untrained network.", title or "Training curves"
        )
    fig = go.Figure()
    drawn = 0
    for s, colour in zip(series, _colours(series)):
        for split in splits:
            points = s.frame[s.frame["split"] == split].sort_values("epoch")
            if points.empty:
                continue
            legend, dash, width = SPLITS[split]
            y = _metric_values(points, "loss" if metric == "loss" else "acc", metric)
            drawn += 1
            fig.add_trace(
                go.Scatter(
                    x=points["epoch"],
                    y=y,
                    mode="lines+markers" if len(points) <= 60 else "lines",
                    name=f"{s.label} · {legend.split(' (')[0]}",
                    legendgroup=s.label,
                    line=dict(color=colour, width=width, dash=dash),
                    marker=dict(size=6 if split == "test" else 5, symbol=FAMILY_SYMBOL.get(s.family, "circle")),
                    meta=dict(
                        split=split, family=s.family, depth=s.depth, within_epoch=bool((points["epoch"] % 1 != 0).any())
                    ),
                    hovertemplate=f"{s.label}<br>{legend}<br>epoch %{{x:.2f}}<br>{METRIC_AXIS[metric]}: "
                    f"%{{y:.3g}}<extra></extra>",
                )
            )
    what = {"loss": "Loss", "acc": "Accuracy", "error": "Error"}[metric]
    parts = [f"{SPLITS[k][0]}: {SPLITS[k][1]}" for k in splits]
    _style(fig, title or f"{what} during training", "epoch", METRIC_AXIS[metric], height=460)
    _note(fig, "; ".join(parts))
    if not drawn:
        _note(fig, "these runs have none of the chosen curves")
    _fixed_percent(fig, metric, full_range)
    return fig


# What each drawn curve is, for captions built from a figure's traces (their ``meta``).
SPLIT_WORDS = {
    "test": "test {what}, on the whole test set at each epoch's end",
    "test_within": "test {what}, on a test subset several times an epoch and on the whole test set at each epoch's end",
    "train": "training {what} as the paper plots it: the network in eval mode on a fixed training subset at each "
    "epoch's end",
    "running": "the running mean of the training {what} over the epoch's mini-batches in training mode (augmented "
    "images where the run augments, weights still moving), so it lags behind the eval-mode curve",
}
WHAT = {"loss": "loss", "acc": "accuracy", "error": "error"}
LINE_WORDS = {"solid": "Solid", "dash": "Dashed", "dot": "Dotted"}


def curves_caption(fig: go.Figure, metric: str) -> str:
    """A caption for a training-curve figure that names only what it draws: its kinds of line (from each
    trace's ``meta``) and the colours of the families in it. '' for a figure with no curves."""
    metas = [t.meta for t in fig.data if isinstance(t.meta, dict)]
    if not metas:
        return ""
    what = WHAT[metric]
    splits = list(dict.fromkeys(m["split"] for m in metas))
    sentences = []
    if "batch" in splits:
        smoothing = next((m["smoothing"] for m in metas if "smoothing" in m), 0)
        one = f"each mini-batch's training {what}, in training mode"
        if any(m.get("raw") for m in metas):
            sentences.append(
                f"Bold: TensorBoard's debiased moving average (smoothing {smoothing:.2f}) of {one}; faint: "
                "the values themselves"
            )
        else:
            sentences.append(f"Lines: {one}" + (f", smoothed ({smoothing:.2f})" if smoothing else ", unsmoothed"))
        sentences.append("No test curve in this view: test points are measured per epoch (choose *epochs*)")
    for split in ("test", "train", "running"):
        if split in splits:
            within = split == "test" and any(m.get("within_epoch") for m in metas if m["split"] == "test")
            words = SPLIT_WORDS["test_within" if within else split].format(what=what)
            sentences.append(f"{LINE_WORDS[SPLITS[split][1]]}: {words}")
    if "lr" in splits:
        sentences.append("The learning rate of every step, as the trainer set it")
    families = list(dict.fromkeys(m["family"] for m in metas))
    by_marker = any(split in splits for split in ("test", "train", "running"))  # the dash tells the split apart
    style = {f: SYMBOL_WORDS[FAMILY_SYMBOL[f]] if by_marker else DASH_WORDS[FAMILY_DASH[f]] for f in families}
    colours = ", ".join(f"{FAMILY_NAMES[f]} {COLOUR_NAMES[f]} ({style[f]})" for f in families)
    depths = {f: {m["depth"] for m in metas if m["family"] == f} for f in families}
    darker = any(len(d) > 1 for d in depths.values())
    sentences.append(f"Colour: {colours}" + ("; deeper nets of a family darker" if darker else ""))
    return ". ".join(sentences) + "."


# --------------------------------------------------------------------------------- gradients


def log_range(*frames: pd.DataFrame, column: str = "value") -> tuple[float, float] | None:
    """log10 range of the positive finite values of ``column`` over frames: one colour scale for
    heatmaps drawn side by side."""
    values = np.concatenate([_finite(f[column], log=True) for f in frames if column in f and len(f)] or [np.array([])])
    values = values[np.isfinite(values)]
    if not len(values):
        return None
    return float(np.log10(values.min())), float(np.log10(values.max()))


def _log_ticks(lo: float, hi: float) -> tuple[list[float], list[str]]:
    start, stop = math.floor(lo), math.ceil(hi)
    step = max(1, math.ceil((stop - start) / 8))
    ticks = list(range(start, stop + 1, step))
    return ticks, [f"1e{t}" if t not in (0, 1) else ("1" if t == 0 else "10") for t in ticks]


def gradient_heatmap(
    probes: pd.DataFrame, kind: str = "grad_w", title: str = "", z_range: tuple[float, float] | None = None
) -> go.Figure:
    """Layer × step heatmap of a probe (frame: step, idx, layer, value; one kind) on a log colour scale.

    The input layer is at the bottom and the classifier at the top; ``z_range`` (log10) lets two
    heatmaps share one colour scale."""
    frame = probes[probes["kind"] == kind] if "kind" in probes else probes
    if frame.empty:
        return empty_figure(
            "No probes recorded for this run (probe_every was 0, or training has not reached the first probe).", title
        )
    grid = frame.pivot_table(index="idx", columns="step", values="value", aggfunc="first").sort_index()
    names = frame.drop_duplicates("idx").set_index("idx")["layer"].reindex(grid.index)
    raw = grid.to_numpy(dtype=float)
    z = np.log10(np.where(np.isfinite(raw) & (raw > 0), raw, np.nan))
    left_out = int(np.sum(~np.isnan(raw) & ~(np.isfinite(raw) & (raw > 0))))
    lo, hi = z_range or (np.nanmin(z) if np.isfinite(z).any() else 0.0, np.nanmax(z) if np.isfinite(z).any() else 1.0)
    if hi - lo < 1e-9:
        lo, hi = lo - 0.5, hi + 0.5
    tickvals, ticktext = _log_ticks(lo, hi)
    fig = go.Figure(
        go.Heatmap(
            x=grid.columns.to_numpy(),
            y=np.arange(len(grid.index)),
            z=z,
            zmin=lo,
            zmax=hi,
            colorscale="Viridis",
            customdata=np.stack(
                [np.broadcast_to(np.array(names.to_numpy(), dtype=object)[:, None], raw.shape), raw], axis=-1
            ),
            hovertemplate="layer %{customdata[0]}<br>step %{x}<br>value %{customdata[1]:.3g}<extra></extra>",
            colorbar=dict(
                title=dict(text=PROBE_SHORT.get(kind, kind) + "<br>(log scale)", side="right"),
                tickvals=tickvals,
                ticktext=ticktext,
            ),
        )
    )
    n = len(grid.index)
    label_every = max(1, math.ceil(n / 14))
    shown = list(range(0, n, label_every))
    _style(
        fig,
        title or f"{PROBE_SHORT.get(kind, kind)} per layer during training",
        "training step",
        "layer (input at the bottom, classifier at the top)",
        height=max(380, min(640, 120 + 6 * n)),
        legend=False,
    )
    fig.update_yaxes(tickvals=shown, ticktext=[names.iloc[i] for i in shown], tickfont=dict(size=10))
    if left_out:
        _note(fig, f"{_count(left_out, 'cell is', 'cells are')} 0 or not finite and left blank")
    return fig


def gradient_profile(series: list[RunSeries], kind: str = "grad_w", title: str = "") -> go.Figure:
    """Norm against layer position for several runs (frames: idx, layer, value at one step), log y."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No probe at this step.", title)
    fig = go.Figure()
    left_out = 0
    for s, colour in zip(series, _colours(series)):
        f = s.frame.sort_values("idx")
        y = _finite(f["value"], log=True)
        left_out += int(np.isnan(y).sum())
        fig.add_trace(
            go.Scatter(
                x=f["idx"],
                y=y,
                mode="lines+markers",
                name=s.label,
                line=dict(color=colour, width=2, dash=FAMILY_DASH.get(s.family)),
                marker=dict(size=4),
                customdata=f["layer"],
                hovertemplate=f"{s.label}<br>%{{customdata}} (layer %{{x}})<br>value %{{y:.3g}}<extra></extra>",
            )
        )
    _style(
        fig,
        title or f"{PROBE_SHORT.get(kind, kind)} against layer",
        "layer index (0 = first conv … classifier)",
        PROBE_AXIS.get(kind, kind),
    )
    fig.update_yaxes(type="log", exponentformat="power")
    if left_out:
        _note(fig, f"{_count(left_out, 'value is', 'values are')} 0 or not finite and not drawn on the log axis")
    return fig


def _facet_title(bn: bool, init: str) -> str:
    return f"BN {'on' if bn else 'off'} · {init} init"


def init_profiles(df: pd.DataFrame, kind: str = "grad_w") -> go.Figure:
    """At initialisation: a probe against relative depth for each network, one panel per
    BN/init combination (df from core.engine.probes.probe_at_init)."""
    if df is None or df.empty:
        return empty_figure("Choose at least one depth, one kind of network, BN setting and init.", "At initialisation")
    facets = list(dict.fromkeys(zip(df["bn"], df["init"])))
    fig = make_subplots(
        rows=1,
        cols=len(facets),
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=[_facet_title(bn, init) for bn, init in facets],
    )
    left_out, legend_seen = 0, set()
    for col, (bn, init) in enumerate(facets, start=1):
        panel = df[(df["bn"] == bn) & (df["init"] == init)]
        for (shortcut, depth), g in panel.groupby(["shortcut", "depth"], sort=False):
            family = model_family(shortcut)
            name = g["model"].iloc[0].replace(" (no BN)", "")
            y = _finite(g[kind], log=True)
            left_out += int(np.isnan(y).sum())
            fig.add_trace(
                go.Scatter(
                    x=g["rel_depth"],
                    y=y,
                    mode="lines",
                    name=name,
                    legendgroup=name,
                    showlegend=name not in legend_seen,
                    line=dict(color=model_colour(family, int(depth)), width=2, dash=FAMILY_DASH.get(family)),
                    customdata=g["layer"],
                    hovertemplate=f"{name}, {_facet_title(bn, init)}<br>%{{customdata}}<br>value %{{y:.3g}}"
                    "<extra></extra>",
                ),
                row=1,
                col=col,
            )
            legend_seen.add(name)
    _style(
        fig,
        f"{PROBE_SHORT.get(kind, kind)} per layer at initialisation (one batch)",
        "",
        PROBE_AXIS.get(kind, kind),
        height=460,
    )
    fig.update_layout(margin=dict(t=115))  # room for a note line between the title and the panel titles
    fig.update_yaxes(type="log", exponentformat="power")
    for col in range(1, len(facets) + 1):
        if col > 1:  # the shared y axis is titled once, on the left
            fig.update_yaxes(title_text="", row=1, col=col)
        fig.update_xaxes(title_text="", range=[-0.02, 1.02], row=1, col=col)
    # One x title under all panels: repeated per panel it would not fit.
    fig.add_annotation(
        text="position in the network (0 = first conv, 1 = classifier)",
        xref="paper",
        yref="paper",
        x=0.5,
        y=-0.13,
        xanchor="center",
        yanchor="top",
        showarrow=False,
        font=dict(size=13),
    )
    fig.update_layout(legend=dict(y=-0.22), margin=dict(b=70))
    if left_out:
        _note(fig, f"{_count(left_out, 'value is', 'values are')} exactly 0 or not finite: not drawn on the log axis")
    return fig


def init_ratio_figure(summary: pd.DataFrame) -> go.Figure:
    """At initialisation, against depth: the first and last conv's ‖∂L/∂W‖ (left) and their ratio (right),
    each point named by core.engine.probes.gradient_regime, which reads the absolute norms, not the ratio alone."""
    if summary is None or summary.empty:
        return empty_figure("Nothing probed yet.", "Gradient norms at initialisation")
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.09,
        subplot_titles=("‖∂L/∂W‖: first conv (filled), last conv (open)", "ratio first / last"),
    )
    left_out = 0
    for (shortcut, bn, init), g in summary.groupby(["shortcut", "bn", "init"], sort=False):
        g = g.sort_values("depth")
        family = model_family(shortcut)
        colour = FAMILY_COLOURS[family]
        name = f"{FAMILY_NAMES[family].split(' (')[0]}, {_facet_title(bn, init)}"
        dash = "solid" if bn else "dot"
        symbol = "circle" if init == "kaiming" else "diamond"
        regime = g["regime"] if "regime" in g else pd.Series([""] * len(g), index=g.index)
        custom = np.stack([g["grad_w_first"], g["grad_w_last"], regime], axis=-1)
        hover = (
            f"{name}<br>depth %{{x}}<br>first conv %{{customdata[0]:.3g}}, last conv %{{customdata[1]:.3g}}"
            "<br><b>%{customdata[2]}</b><extra></extra>"
        )
        first = _finite(g["grad_w_first"], log=True)
        left_out += int(np.isnan(first).sum())
        traces = (  # y, name suffix, line width, marker, extra hover, column
            (first, "", 2.2, (symbol, 9), "", 1),
            (_finite(g["grad_w_last"], log=True), " · last conv", 1, (f"{symbol}-open", 8), "", 1),
            (_finite(g["ratio_first_last"], log=True), " · ratio", 2.2, (symbol, 9), "ratio %{y:.3g}", 2),
        )
        for y, suffix, width, (marker, size), extra, col in traces:
            fig.add_trace(
                go.Scatter(
                    x=g["depth"],
                    y=y,
                    mode="lines+markers",
                    name=name + suffix,
                    legendgroup=name,
                    showlegend=False if suffix else None,  # one legend entry per network
                    line=dict(color=colour, width=width, dash=dash),
                    marker=dict(symbol=marker, size=size),
                    customdata=custom,
                    hovertemplate=hover + extra,
                ),
                row=1,
                col=col,
            )
    fig.add_hline(
        y=1,
        line=dict(color="#888", dash="dash"),
        row=1,
        col=2,
        annotation_text="equal norms at both ends",
        annotation_position="top left",
        annotation_font=dict(size=11, color="#666"),
    )
    _style(
        fig,
        "Gradients at initialisation: size (left) and growth toward the input (right); hover names each regime",
        "depth (weighted layers)",
        "‖∂L/∂W‖ (log scale)",
        height=460,
    )
    fig.update_yaxes(type="log", exponentformat="power")
    fig.update_yaxes(title_text="ratio first / last (log scale)", row=1, col=2)
    fig.update_xaxes(tickvals=sorted(summary["depth"].unique()), title_text="depth (weighted layers)")
    if left_out:
        _note(
            fig,
            f"{_count(left_out, 'first-conv gradient is', 'first-conv gradients are')} exactly 0 (underflow): "
            "not drawn on the log scale, and its ratio is 0",
        )
    fig.update_layout(margin=dict(t=120))  # room for the title, its note and the panel titles
    return fig


def shattering_figure(table: pd.DataFrame) -> go.Figure:
    """Neighbouring input-gradient correlation against depth (table from core.engine.probes.shattering_table):
    near 1 the gradient varies smoothly with the input, near 0 it is white noise (shattered)."""
    if table is None or table.empty:
        return empty_figure("Nothing measured yet.", "Shattered gradients at initialisation")
    fig = go.Figure()
    for shortcut, g in table.groupby("shortcut", sort=False):
        g = g.sort_values("depth")
        family = model_family(shortcut)
        fig.add_trace(
            go.Scatter(
                x=g["depth"],
                y=g["correlation"],
                mode="lines+markers",
                name=FAMILY_NAMES[family],
                line=dict(color=FAMILY_COLOURS[family], width=2.5, dash=FAMILY_DASH.get(family)),
                marker=dict(size=9, symbol=FAMILY_SYMBOL.get(family, "circle")),
                hovertemplate=f"{FAMILY_NAMES[family]}<br>depth %{{x}}<br>correlation %{{y:.3f}}<extra></extra>",
            )
        )
    fig.add_hline(
        y=0,
        line=dict(color="#888", dash="dash"),
        annotation_text="white noise",
        annotation_position="bottom right",
        annotation_font=dict(size=11, color="#666"),
    )
    _style(
        fig,
        "Shattered gradients: how alike are the gradients at neighbouring inputs?",
        "depth (weighted layers)",
        "correlation of neighbouring ∂f/∂x (1 = smooth, 0 = noise)",
        height=420,
    )
    fig.update_yaxes(range=[-0.1, 1.05])
    fig.update_xaxes(tickvals=sorted(table["depth"].unique()))
    return fig


def is_3x3_layer(layer: str) -> bool:
    """The 3×3 convs of the paper's Fig. 7: the stem and the block convs, not 1×1 shortcut or merge convs."""
    last = layer.rsplit(".", 1)[-1]
    return last.startswith("conv")


def response_std_figure(series: list[RunSeries], title: str = "") -> go.Figure:
    """The paper's Fig. 7: std of each 3×3 layer's response (after BN, before the ReLU or the
    addition), in network order (left) and sorted by magnitude (right). Frames: idx, layer, value."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No response measurements for these runs.", title or "Response std per layer")
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.05,
        subplot_titles=("in network order", "sorted by magnitude"),
    )
    for s, colour in zip(series, _colours(series)):
        f = s.frame[s.frame["layer"].map(is_3x3_layer)].sort_values("idx")
        y = _finite(f["value"])
        x = np.arange(1, len(f) + 1)
        line = dict(color=colour, width=2, dash=FAMILY_DASH.get(s.family))
        common = dict(mode="lines", name=s.label, legendgroup=s.label, line=line)
        fig.add_trace(
            go.Scatter(
                x=x,
                y=y,
                customdata=f["layer"],
                **common,
                hovertemplate=f"{s.label}<br>%{{customdata}}<br>std %{{y:.3g}}<extra></extra>",
            ),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=np.sort(y[np.isfinite(y)])[::-1],
                showlegend=False,
                **common,
                hovertemplate=f"{s.label}<br>rank %{{x}}<br>std %{{y:.3g}}<extra></extra>",
            ),
            row=1,
            col=2,
        )
    _style(
        fig, title or "Std of each 3×3 layer's response (He et al. Fig. 7)", "", "std of the layer response", height=430
    )
    fig.update_xaxes(title_text="3×3 layer index (input → output)", row=1, col=1)
    fig.update_xaxes(title_text="rank (largest first)", row=1, col=2)
    fig.update_yaxes(title_text="", row=1, col=2)
    return fig


# --- Compare and Classify ---
# Compare: final error vs depth with Table 6, curves averaged over seeds. Classify: top-k bars and
# attribution heatmaps drawn over the 32x32 image the model saw.

# Inferno (dark = unimportant, bright = important) starting at a dark violet rather than its
# near-black: Streamlit's chart theme repaints a near-black colour-bar end (it showed pink).
HEATMAP_SCALE = [
    [0.0, "#0d0829"],
    [0.1111, "#1b0c41"],
    [0.2222, "#4a0c6b"],
    [0.3333, "#781c6d"],
    [0.4444, "#a52c60"],
    [0.5556, "#cf4446"],
    [0.6667, "#ed6925"],
    [0.7778, "#fb9b06"],
    [0.8889, "#f7d13d"],
    [1.0, "#fcffa4"],
]


def _line_name(arch: str, shortcut: str, bn: bool) -> str:
    name = FAMILY_NAMES[model_family(shortcut, arch)]
    return name if bn else f"{name}, no BN"


def _translucent(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r}, {g}, {b}, {alpha})"


def depth_error_figure(
    table: pd.DataFrame, paper: pd.DataFrame | None = None, dataset_title: str = "", *, percent_axis: bool = False
) -> go.Figure:
    """Final error against depth, one colour per family, test solid and training dashed, error bars
    = std over seeds (table from core.analysis.compare.depth_table); ``paper`` (depth, test_error) adds the
    paper's Table 6 as black stars; ``percent_axis`` fixes the error axis at 0–100%."""
    if table is None or table.empty:
        return empty_figure("No finished runs in this setup.", "Final error vs depth")
    fig = go.Figure()
    for (arch, shortcut, bn), rows in table.sort_values("depth").groupby(["arch", "shortcut", "bn"], sort=False):
        family = model_family(shortcut, arch)
        name, colour, symbol = _line_name(arch, shortcut, bn), FAMILY_COLOURS[family], FAMILY_SYMBOL[family]
        for split, test in (("test", True), ("train", False)):
            seeds = rows["seeds"].to_numpy()
            fig.add_trace(
                go.Scatter(
                    x=rows["depth"],
                    y=_finite(rows[f"{split}_error_mean"]),
                    mode="lines+markers",
                    name=f"{name} · {'test' if test else 'training'}",
                    legendgroup=name,
                    line=dict(color=colour, width=3 if test else 1.6, dash="solid" if test else "dash"),
                    marker=dict(size=8 if test else 6, symbol=symbol if test else f"{symbol}-open"),
                    error_y=dict(type="data", array=rows[f"{split}_error_std"], visible=bool((seeds > 1).any())),
                    customdata=seeds,
                    hovertemplate=f"{name}, {split}<br>depth %{{x}}: %{{y:.2f}}% (%{{customdata}} seed(s))"
                    "<extra></extra>",
                )
            )
    if paper is not None and len(paper):
        fig.add_trace(
            go.Scatter(
                x=paper["depth"],
                y=paper["test_error"],
                mode="lines+markers",
                name="He et al. 2015, Table 6 (CIFAR-10, the paper's own schedule) · test",
                line=dict(color="black", width=1, dash="dot"),
                marker=dict(symbol="star", size=12, color="black"),
                hovertemplate="ResNet-%{x}, paper (CIFAR-10, its own schedule)<br>test error %{y:.2f}%<extra></extra>",
            )
        )
    title = "Final error vs depth (solid: test, dashed: training)" + (f" · {dataset_title}" if dataset_title else "")
    _style(fig, title, "depth (weighted layers)", "error (%)", height=460)
    depths = sorted(set(table["depth"]) | (set(paper["depth"]) if paper is not None else set()))
    fig.update_xaxes(tickvals=depths)
    if percent_axis:
        fig.update_yaxes(range=PERCENT_RANGE)
    else:
        fig.update_yaxes(rangemode="tozero")
    return fig


def _band(fig: go.Figure, x, low, high, colour: str, group: str) -> None:
    """A shaded band from ``low`` to ``high`` along ``x`` (up along the high edge, back along the low one), in
    the legend group of the curve it surrounds."""
    fig.add_trace(
        go.Scatter(
            x=np.concatenate([x, x[::-1]]),
            y=np.concatenate([high, low[::-1]]),
            mode="lines",
            fill="toself",
            fillcolor=_translucent(colour, 0.18),
            line=dict(width=0),
            legendgroup=group,
            showlegend=False,
            hoverinfo="skip",
        )
    )


def seed_band_figure(series: list[RunSeries], y_title: str, *, percent_axis: bool = False) -> go.Figure:
    """Mean curve per network with a shaded band of ± one std over its seeds (frames: epoch, mean,
    std, seeds, from core.analysis.compare.seed_curves); ``percent_axis`` fixes the y axis at 0–100% (for an
    error or an accuracy)."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No finished epochs for these networks.", "Per-epoch curves over seeds")
    fig = go.Figure()
    for s, colour in zip(series, _colours(series)):
        f = s.frame.sort_values("epoch")
        mean, std = _finite(f["mean"]), np.nan_to_num(_finite(f["std"]))
        if (f["seeds"] > 1).any():
            _band(fig, f["epoch"], mean - std, mean + std, colour, s.label)
        fig.add_trace(
            go.Scatter(
                x=f["epoch"],
                y=mean,
                mode="lines+markers",
                name=s.label,
                legendgroup=s.label,
                line=dict(color=colour, width=2.5, dash=FAMILY_DASH.get(s.family)),
                marker=dict(symbol=FAMILY_SYMBOL.get(s.family, "circle"), size=6),
                customdata=np.stack([std, f["seeds"]], axis=-1),
                hovertemplate=f"{s.label}<br>epoch %{{x}}: %{{y:.3g}} ± %{{customdata[0]:.2g}} "
                f"(%{{customdata[1]}} seeds)<extra></extra>",
            )
        )
    _style(fig, f"{y_title[0].upper()}{y_title[1:]} per epoch: mean ± std over seeds", "epoch", y_title, height=440)
    max_epoch = max(int(s.frame["epoch"].max()) for s in series if not s.frame.empty)
    fig.update_xaxes(dtick=1 if max_epoch <= 20 else None)
    if percent_axis:
        fig.update_yaxes(range=PERCENT_RANGE)
    return fig


def topk_bar_figure(series: list[RunSeries]) -> go.Figure:
    """Grouped bars of each model's top-k class probabilities in % (frames: class, probability as a
    fraction); a class outside a model's top k has no bar for that model."""
    if not series:
        return empty_figure("Choose a model to see its predictions.", "Top-5 class probabilities")
    classes = list(dict.fromkeys(c for s in series for c in s.frame["class"]))
    fig = go.Figure()
    for s, colour in zip(series, _colours(series)):
        probs = dict(zip(s.frame["class"], 100 * s.frame["probability"]))
        values = [probs.get(c) for c in classes]
        fig.add_trace(
            go.Bar(
                x=classes,
                y=values,
                name=s.label,
                marker_color=colour,
                textposition="outside",
                cliponaxis=False,
                text=[f"{v:.1f}%" if v is not None else "" for v in values],
                hovertemplate=f"{s.label}<br>%{{x}}: %{{y:.2f}}%<extra></extra>",
            )
        )
    _style(fig, "Top-5 class probabilities of each model", "class", "probability (%)", height=420)
    fig.update_layout(barmode="group", hovermode="closest")
    fig.update_yaxes(range=[0, 112], tickvals=[0, 20, 40, 60, 80, 100])
    return fig


def heatmap_overlay(seen: np.ndarray, heatmap: np.ndarray, strength: float = 0.85) -> np.ndarray:
    """The image with a [0, 1] heatmap blended over it: unimportant pixels keep the image, important
    ones take the colour scale's bright end (uint8 32x32x3)."""
    from plotly.colors import sample_colorscale

    lut = np.array(
        [[float(v) for v in c[4:-1].split(",")] for c in sample_colorscale(HEATMAP_SCALE, np.linspace(0, 1, 256))]
    )
    h = np.clip(np.nan_to_num(heatmap), 0, 1)
    colours = lut[np.rint(h * 255).astype(int)]
    alpha = (0.15 + strength * h)[..., None].clip(0, 1)  # a light tint everywhere shows the scale's dark end
    return np.rint((1 - alpha) * seen + alpha * colours).astype(np.uint8)


def attribution_figure(seen: np.ndarray, heatmaps: dict[str, np.ndarray], title: str = "") -> go.Figure:
    """One model's row: the 32x32 image it saw, then each method's heatmap (values in [0, 1], by
    method name) blended over that image, with one shared colour scale."""
    if not heatmaps:
        return empty_figure("Choose at least one attribution method.", title)
    methods = list(heatmaps)
    cols = 1 + len(methods)
    fig = make_subplots(rows=1, cols=cols, subplot_titles=["what it saw (32×32)", *methods], horizontal_spacing=0.015)
    fig.add_trace(
        go.Image(z=seen, hovertemplate="pixel (%{x}, %{y})<br>RGB %{z}<extra>what the model saw</extra>"), row=1, col=1
    )
    for c, method in enumerate(methods, start=2):
        fig.add_trace(
            go.Image(
                z=heatmap_overlay(seen, heatmaps[method]),
                hovertemplate=f"pixel (%{{x}}, %{{y}})<extra>{method}</extra>",
            ),
            row=1,
            col=c,
        )
    # the colour scale: a two-cell heatmap placed outside the visible pixels, drawn only for its colour bar
    fig.add_trace(
        go.Heatmap(
            z=[[0.0, 1.0]],
            x=[100, 101],
            y=[100],
            zmin=0,
            zmax=1,
            colorscale=HEATMAP_SCALE,
            hoverinfo="skip",
            colorbar=dict(
                title=dict(text="importance", side="right"),
                thickness=12,
                tickvals=[0, 0.5, 1],
                ticktext=["0 none", "0.5", "1 most"],
            ),
        ),
        row=1,
        col=cols,
    )
    fig.update_xaxes(visible=False, range=[-0.5, 31.5], constrain="domain")
    fig.update_yaxes(visible=False, range=[31.5, -0.5], constrain="domain", constraintoward="top")  # under its title
    for i in range(1, cols + 1):  # square pixels in every panel
        fig.layout[f"yaxis{i if i > 1 else ''}"].scaleanchor = f"x{i if i > 1 else ''}"
    fig.update_annotations(font_size=12)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=title, x=0.0, xanchor="left"),
        showlegend=False,
        height=int(95 + 900 / cols),
        margin=dict(l=10, r=10, t=75, b=10),
    )
    return fig


# --- Inside the network: lesion study, loss landscape, feature maps ---
# Lesion bars and k-curves (Veit et al. 2016), the binomial path-length distribution, 1-D loss slices
# and 2-D contours (Li et al. 2018), and one image's feature maps of a plain net and a ResNet.


def lesion_blocks_figure(series: list[RunSeries]) -> go.Figure:
    """Test error with each single block deleted, one group of bars per network (frames: index, name,
    changes_shape, error, intact as fractions); a dotted line marks each network's intact error and
    hatched bars the blocks that change the shape."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No lesion results to show.", "Test error with one block deleted")
    fig = go.Figure()
    for s, colour in zip(series, _colours(series)):
        f = s.frame.sort_values("index")
        fig.add_trace(
            go.Bar(
                x=f["index"] + 1,
                y=100 * _finite(f["error"]),
                name=s.label,
                marker_color=colour,
                legendgroup=s.label,
                marker_pattern_shape=np.where(f["changes_shape"], "/", ""),
                customdata=f["name"],
                hovertemplate=f"{s.label}<br>block %{{x}} (%{{customdata}}) deleted<br>test error %{{y:.1f}}%"
                "<extra></extra>",
            )
        )
        intact = 100 * float(f["intact"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=[0.5, len(f) + 0.5],
                y=[intact, intact],
                mode="lines",
                legendgroup=s.label,
                name=f"{s.label}: intact",
                line=dict(color=colour, dash="dot", width=2),
                hovertemplate=f"{s.label} intact: %{{y:.1f}}%<extra></extra>",
            )
        )
    _style(
        fig,
        "Test error with one block deleted (hatched: blocks that change the shape)",
        "deleted block (1 = first block after the stem)",
        METRIC_AXIS["error"],
        height=430,
    )
    fig.update_layout(barmode="group", bargap=0.15)
    fig.update_yaxes(range=[0, 100])
    return fig


def lesion_k_figure(series: list[RunSeries]) -> go.Figure:
    """Test error against the number of randomly deleted blocks: mean over draws with the min–max
    range shaded (frames: k, mean, min, max as fractions; k = 0 is the intact network)."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No k-deletion curve was computed.", "Test error with k random blocks deleted")
    fig = go.Figure()
    for s, colour in zip(series, _colours(series)):
        f = s.frame.sort_values("k")
        lo, hi = 100 * _finite(f["min"]), 100 * _finite(f["max"])
        _band(fig, f["k"], lo, hi, colour, s.label)
        fig.add_trace(
            go.Scatter(
                x=f["k"],
                y=100 * _finite(f["mean"]),
                mode="lines+markers",
                name=s.label,
                legendgroup=s.label,
                line=dict(color=colour, width=2.5, dash=FAMILY_DASH.get(s.family)),
                marker=dict(symbol=FAMILY_SYMBOL.get(s.family, "circle"), size=5),
                customdata=np.stack([lo, hi], axis=-1),
                hovertemplate=f"{s.label}<br>%{{x}} blocks deleted: %{{y:.1f}}% "
                "(range %{customdata[0]:.1f}–%{customdata[1]:.1f}%)<extra></extra>",
            )
        )
    _style(
        fig,
        "Test error with k random blocks deleted (mean over draws, band: min–max)",
        "blocks deleted (k)",
        METRIC_AXIS["error"],
        height=430,
    )
    fig.update_yaxes(range=[0, 100])
    return fig


def path_length_figure(rows: pd.DataFrame, n: int) -> go.Figure:
    """Veit et al.'s unrolled view: the share of the 2^n paths through n blocks that pass through k
    residual branches (frame: k, count, share; binomial)."""
    if rows.empty:
        return empty_figure("No blocks.", "Path lengths")
    fig = go.Figure(
        go.Bar(
            x=rows["k"],
            y=100 * rows["share"],
            marker_color=FAMILY_COLOURS["resnet"],
            name="share of paths",
            customdata=rows["count"].astype(float),
            hovertemplate="%{x} residual branches: %{customdata:.4g} paths (%{y:.3g}%)<extra></extra>",
        )
    )
    _style(
        fig,
        f"Path lengths through {n} residual blocks: binomial, C({n}, k) of 2^{n} paths",
        "residual branches on the path (k)",
        "share of all paths (%)",
        height=360,
    )
    return fig


def landscape_slice_figure(series: list[RunSeries]) -> go.Figure:
    """1-D loss slices θ + αδ on a log axis (frames: alpha, loss); α = 0 is the trained network."""
    if not series or all(s.frame.empty for s in series):
        return empty_figure("No loss slices to show.", "Loss along a random direction")
    fig = go.Figure()
    left_out = 0
    for s, colour in zip(series, _colours(series)):
        y = _finite(s.frame["loss"], log=True)
        left_out += int(np.isnan(y).sum())
        fig.add_trace(
            go.Scatter(
                x=s.frame["alpha"],
                y=y,
                mode="lines+markers",
                name=s.label,
                line=dict(color=colour, width=2.5, dash=FAMILY_DASH.get(s.family)),
                marker=dict(symbol=FAMILY_SYMBOL.get(s.family, "circle"), size=4),
                hovertemplate=f"{s.label}<br>α = %{{x:.3g}}<br>loss %{{y:.4g}} nats<extra></extra>",
            )
        )
    fig.add_vline(x=0, line=dict(color="#999", dash="dot", width=1))
    _style(
        fig,
        "Training loss along one filter-normalised random direction (α = 0: the trained weights)",
        "step α along the direction (1 = as long as the weights, filter by filter)",
        "cross-entropy loss (nats, log scale)",
    )
    fig.update_yaxes(type="log", exponentformat="power")
    if left_out:
        _note(fig, f"{_count(left_out, 'loss is', 'losses are')} not finite and not drawn")
    return fig


def landscape_contour_figure(planes: list[tuple[str, np.ndarray, np.ndarray, np.ndarray]]) -> go.Figure:
    """2-D loss planes θ + αδ + βη side by side, contours of log10 loss on one shared scale
    (items: label, alphas, betas, loss [len(betas), len(alphas)])."""
    if not planes:
        return empty_figure("No loss planes to show.", "Loss around the trained weights")
    logs = [np.log10(np.where(np.isfinite(p[3]) & (p[3] > 0), p[3], np.nan)) for p in planes]
    finite = np.concatenate([z[np.isfinite(z)] for z in logs] or [np.array([0.0])])
    lo, hi = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    hi = max(hi, lo + 1e-6)
    tickvals, ticktext = _log_ticks(lo, hi)
    fig = make_subplots(rows=1, cols=len(planes), subplot_titles=[p[0] for p in planes], horizontal_spacing=0.08)
    for c, ((label, alphas, betas, _), z) in enumerate(zip(planes, logs), start=1):
        fig.add_trace(
            go.Contour(
                x=alphas,
                y=betas,
                z=z,
                zmin=lo,
                zmax=hi,
                colorscale="Viridis",
                ncontours=24,
                name=label,
                contours=dict(coloring="heatmap", showlines=True),
                line=dict(width=0.6, color="rgba(255,255,255,0.5)"),
                showscale=c == len(planes),
                hovertemplate=f"{label}<br>α %{{x:.2f}}, β %{{y:.2f}}<br>log10 loss %{{z:.2f}}<extra></extra>",
                colorbar=dict(
                    title=dict(text="loss (nats,<br>log scale)", side="right"), tickvals=tickvals, ticktext=ticktext
                ),
            ),
            row=1,
            col=c,
        )
        fig.add_trace(
            go.Scatter(
                x=[0],
                y=[0],
                mode="markers",
                marker=dict(symbol="x", size=11, color="white", line=dict(color="black", width=1)),
                name="trained weights",
                showlegend=c == 1,
                hoverinfo="skip",
            ),
            row=1,
            col=c,
        )
        fig.update_xaxes(title_text="α (direction δ)", row=1, col=c)
        fig.update_yaxes(title_text="β (direction η)", scaleanchor=f"x{c if c > 1 else ''}", row=1, col=c)
    fig.update_layout(
        template=TEMPLATE,
        height=470,
        margin=dict(l=60, r=20, t=80, b=55),
        title=dict(text="Training loss on a plane of two filter-normalised random directions", x=0.0),
        legend=dict(orientation="h", yanchor="top", y=-0.15, x=0),
    )
    return fig


def _image_panels(
    rows: list[tuple[str, list[tuple[str, np.ndarray]]]],
    title: str,
    colorscale: str,
    symmetric: bool,
    colour_title: str,
) -> go.Figure:
    """Rows of small heatmaps (one row per network), one colour scale for all."""
    cols = max(len(panels) for _, panels in rows)
    values = np.concatenate([a.ravel() for _, panels in rows for _, a in panels if a is not None] or [np.zeros(1)])
    values = values[np.isfinite(values)]
    bound = float(np.abs(values).max()) if values.size else 1.0
    zmin, zmax = (-bound, bound) if symmetric else (float(values.min()) if values.size else 0.0, bound)
    if zmax <= zmin:
        zmax = zmin + 1e-6
    grid_titles = []
    for label, panels in rows:
        names = [name if a is not None else f"{name}:<br>none in a plain block" for name, a in panels]
        grid_titles += [f"{label}<br>{n}" if i == 0 else n for i, n in enumerate(names)] + [""] * (cols - len(panels))
    fig = make_subplots(
        rows=len(rows),
        cols=cols,
        subplot_titles=grid_titles,
        horizontal_spacing=0.015,
        vertical_spacing=0.12 if len(rows) > 1 else 0.05,
    )
    shown = False
    for r, (label, panels) in enumerate(rows, start=1):
        for c, (name, a) in enumerate(panels, start=1):
            if a is None:  # a blank panel of the row's map size keeps the panels aligned
                a = np.full_like(next(m for _, m in panels if m is not None), np.nan)
            fig.add_trace(
                go.Heatmap(
                    z=a,
                    zmin=zmin,
                    zmax=zmax,
                    colorscale=colorscale,
                    showscale=not shown,
                    colorbar=dict(title=dict(text=colour_title, side="right"), thickness=12),
                    hovertemplate=f"{label} · {name}<br>(%{{x}}, %{{y}}): %{{z:.3g}}<extra></extra>",
                ),
                row=r,
                col=c,
            )
            shown = True
    fig.update_xaxes(visible=False, constrain="domain")
    fig.update_yaxes(visible=False, autorange="reversed", constrain="domain")
    for i in range(1, len(rows) * cols + 1):  # square pixels in every panel
        fig.layout[f"yaxis{i if i > 1 else ''}"].scaleanchor = f"x{i if i > 1 else ''}"
    fig.update_annotations(font_size=11)
    fig.update_layout(
        template=TEMPLATE,
        title=dict(text=title, x=0.0),
        showlegend=False,
        height=int(110 + len(rows) * 1100 / max(cols, 4)),
        margin=dict(l=10, r=10, t=90, b=10),
    )
    return fig


def feature_maps_figure(rows: list[tuple[str, list[tuple[str, np.ndarray]]]], layer: str) -> go.Figure:
    """One image's feature maps at one layer: a row of channels per network (items: label,
    [(channel title, map [H, W])]), all on one colour scale (activations after the ReLU)."""
    if not rows or not any(panels for _, panels in rows):
        return empty_figure("No feature maps to show.", f"Feature maps at {layer}")
    return _image_panels(
        rows,
        f"Feature maps at {layer} (strongest channels of each network, after the ReLU)",
        "Viridis",
        False,
        "activation",
    )


def block_parts_figure(
    rows: list[tuple[str, list[tuple[str, np.ndarray | None]]]], block: str, channel: int
) -> go.Figure:
    """Inside one block for one image and channel: F(x), the shortcut x, their sum before the ReLU and
    the output, one row per network (a plain block has no shortcut: that panel says so)."""
    if not rows:
        return empty_figure("No block to show.", f"Inside {block}")
    return _image_panels(
        rows,
        f"Inside {block}, channel {channel}: residual F(x), shortcut x, their sum (before the ReLU), output",
        "RdBu_r",
        True,
        "value",
    )


# ------------------------------------------------------------------------------------- confusion matrix


def confusion_figure(classes: list[str], matrix, title: str) -> go.Figure:
    """A confusion matrix as a heatmap: rows the true class, columns the prediction, each cell the share of the
    true class's test images (%) with its count in the hover; one 0–100% colour scale for every matrix."""
    m = np.asarray(matrix, dtype=float)
    rows = m.sum(axis=1, keepdims=True)
    share = np.divide(100 * m, rows, out=np.full_like(m, np.nan), where=rows > 0)
    fig = go.Figure(
        go.Heatmap(
            z=share,
            x=classes,
            y=classes,
            zmin=0,
            zmax=100,
            colorscale="Cividis",  # colour-blind safe, light for large shares
            colorbar=dict(title=dict(text="% of the<br>true class", side="right")),
            text=np.vectorize(lambda v: "" if np.isnan(v) else f"{v:.0f}")(share),
            texttemplate="%{text}",
            customdata=m.astype(int),
            hovertemplate="true %{y}, predicted %{x}: %{customdata} images (%{z:.1f}%)<extra></extra>",
        )
    )
    _style(fig, title, "predicted class", "true class", height=470, legend=False)
    fig.update_yaxes(autorange="reversed")
    return fig


def per_class_figure(series: list[RunSeries]) -> go.Figure:
    """Grouped bars of each run's test accuracy per class (frames: class, accuracy as a fraction)."""
    if not series:
        return empty_figure("No confusion matrix computed yet.", "Test accuracy per class")
    fig = go.Figure()
    for s, colour in zip(series, _colours(series)):
        fig.add_trace(
            go.Bar(
                x=s.frame["class"],
                y=100 * s.frame["accuracy"],
                name=s.label,
                marker_color=colour,
                marker_pattern_shape="/" if s.family == "plain" else "",  # not by colour alone
                hovertemplate=f"{s.label}<br>%{{x}}: %{{y:.1f}}%<extra></extra>",
            )
        )
    _style(fig, "Test accuracy per class (every test image)", "true class", METRIC_AXIS["acc"], height=420)
    fig.update_layout(barmode="group")
    fig.update_yaxes(range=PERCENT_RANGE)
    return fig
