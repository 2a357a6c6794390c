"""The Lesion, Landscape and Layers figure builders of dashboard.figures: traces, labels and empty inputs."""

import numpy as np
import pandas as pd

from core.analysis import lesion
from core.engine.config import RunConfig
from dashboard import figures

PLAIN, RESNET = RunConfig(depth=56, shortcut="none"), RunConfig(depth=56, shortcut="A")


def block_frame(errors, intact):
    return pd.DataFrame(
        {
            "index": range(len(errors)),
            "name": [f"stage1.block{i}" for i in range(len(errors))],
            "changes_shape": [i == 1 for i in range(len(errors))],
            "error": errors,
            "intact": intact,
        }
    )


def test_lesion_blocks_figure_draws_bars_and_intact_lines_in_percent():
    series = [
        figures.run_series("plain-56", PLAIN, block_frame([0.9, 0.85, 0.88], 0.5)),
        figures.run_series("ResNet-56 (A)", RESNET, block_frame([0.2, 0.4, 0.21], 0.18)),
    ]
    fig = figures.lesion_blocks_figure(series)
    bars = [t for t in fig.data if t.type == "bar"]
    lines = [t for t in fig.data if t.type == "scatter"]
    assert len(bars) == 2 and len(lines) == 2
    assert list(bars[1].y) == [20.0, 40.0, 21.0] and list(bars[0].x) == [1, 2, 3]
    assert list(bars[0].marker.pattern.shape) == ["", "/", ""]  # the shape-changing block is hatched
    assert list(lines[1].y) == [18.0, 18.0] and lines[1].line.dash == "dot"
    assert bars[0].marker.color != bars[1].marker.color
    assert fig.layout.yaxis.title.text == "error (%)" and "deleted block" in fig.layout.xaxis.title.text
    assert "one block deleted" in fig.layout.title.text
    assert "No lesion results" in figures.lesion_blocks_figure([]).layout.annotations[0].text


def test_lesion_k_figure_shades_the_range_over_draws():
    frame = pd.DataFrame({"k": [0, 1, 2], "mean": [0.1, 0.2, 0.4], "min": [0.1, 0.15, 0.3], "max": [0.1, 0.25, 0.5]})
    fig = figures.lesion_k_figure([figures.run_series("ResNet-56 (A)", RESNET, frame)])
    band, line = fig.data
    assert band.fill == "toself" and list(band.y) == [10.0, 25.0, 50.0, 30.0, 15.0, 10.0]
    assert list(line.y) == [10.0, 20.0, 40.0] and line.name == "ResNet-56 (A)"
    assert fig.layout.xaxis.title.text == "blocks deleted (k)"
    assert (
        "No k-deletion"
        in figures.lesion_k_figure([figures.run_series("x", RESNET, pd.DataFrame())]).layout.annotations[0].text
    )


def test_path_length_figure_is_the_binomial_in_percent():
    fig = figures.path_length_figure(pd.DataFrame(lesion.path_lengths(4)), 4)
    assert list(fig.data[0].y) == [6.25, 25.0, 37.5, 25.0, 6.25]
    assert "C(4, k) of 2^4" in fig.layout.title.text and fig.layout.yaxis.title.text == "share of all paths (%)"


def test_landscape_slice_figure_uses_a_log_axis_and_drops_what_it_cannot_draw():
    alphas = np.linspace(-1, 1, 5)
    series = [
        figures.run_series("plain-56", PLAIN, pd.DataFrame({"alpha": alphas, "loss": [1e6, 10, 2.3, np.inf, 1e5]})),
        figures.run_series("ResNet-56 (A)", RESNET, pd.DataFrame({"alpha": alphas, "loss": [100, 3, 0.3, 2, 50]})),
    ]
    fig = figures.landscape_slice_figure(series)
    assert (
        fig.layout.yaxis.type == "log" and "nats" in fig.layout.yaxis.title.text and "α" in fig.layout.xaxis.title.text
    )
    assert np.isnan(fig.data[0].y[3]) and "1 loss is not finite" in figures.note_text(fig)
    assert [t.name for t in fig.data] == ["plain-56", "ResNet-56 (A)"]


def test_landscape_contour_figure_shares_one_log_scale():
    axis = np.linspace(-1, 1, 3)
    a = np.array([[10.0, 1, 10], [1, 0.1, 1], [10, 1, 10]])
    b = np.array([[1e4, 100, 1e4], [100, 2, 100], [1e4, 100, np.inf]])
    fig = figures.landscape_contour_figure([("ResNet-56 (A)", axis, axis, a), ("plain-56", axis, axis, b)])
    contours = [t for t in fig.data if t.type == "contour"]
    assert (
        len(contours) == 2 and contours[0].zmin == contours[1].zmin == -1 and contours[0].zmax == contours[1].zmax == 4
    )
    assert [c.showscale for c in contours] == [False, True]
    assert np.isnan(np.array(contours[1].z, dtype=float)[2, 2])
    assert [a.text for a in fig.layout.annotations][:2] == ["ResNet-56 (A)", "plain-56"]
    assert fig.layout.xaxis.title.text == "α (direction δ)" and fig.layout.yaxis.title.text == "β (direction η)"


def test_feature_and_block_figures_draw_one_panel_per_map():
    maps = np.random.default_rng(0).random((3, 8, 8))
    rows = [
        ("plain-56", [(f"ch {c}", maps[c]) for c in range(3)]),
        ("ResNet-56 (A)", [(f"ch {c}", maps[c]) for c in range(2)]),
    ]
    fig = figures.feature_maps_figure(rows, "stage2.block0")
    assert len(fig.data) == 5 and sum(t.showscale for t in fig.data) == 1
    assert "stage2.block0" in fig.layout.title.text
    parts = [
        ("plain-56", [("F(x)", maps[0]), ("x (shortcut)", None), ("F(x) + x", maps[0]), ("output", maps[1])]),
        (
            "ResNet-56 (A)",
            [("F(x)", maps[0] - 1), ("x (shortcut)", maps[1]), ("F(x) + x", maps[2]), ("output", maps[2])],
        ),
    ]
    fig = figures.block_parts_figure(parts, "stage2.block0", 3)
    assert len(fig.data) == 8 and fig.data[0].zmin == -fig.data[0].zmax  # one symmetric scale: F(x) can be negative
    assert np.isnan(np.array(fig.data[1].z, dtype=float)).all()  # the plain block's shortcut panel is blank
    assert any("none in a plain block" in a.text for a in fig.layout.annotations)
    assert "channel 3" in fig.layout.title.text
    assert "No feature maps" in figures.feature_maps_figure([], "stem").layout.annotations[0].text
