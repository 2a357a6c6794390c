"""The figure builders of dashboard/figures.py, on hand-made data: traces, titles, axes, legends, gaps."""

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from core.engine.config import RunConfig
from dashboard import figures as F


def steps_frame(n=50, loss0=2.3):
    step = np.arange(n)
    return pd.DataFrame(
        {
            "step": step,
            "epoch": (step + 1) / 10,
            "loss": loss0 * np.exp(-step / 30),
            "acc": np.linspace(0.1, 0.6, n),
            "lr": 0.1,
        }
    )


def epochs_frame(n=3):
    e = np.arange(1, n + 1)
    return pd.DataFrame(
        {
            "epoch": e,
            "step": 10 * e,
            "train_loss": 2.0 / e,
            "train_acc": 0.3 * e / n,
            "test_loss": 2.2 / e,
            "test_acc": 0.25 * e / n,
            "lr": 0.1,
            "seconds": e,
        }
    )


def probe_frame(steps=(0, 5, 10), layers=("conv1", "stage1.block0.conv1", "stage1.block0.conv2", "fc"), kind="grad_w"):
    rows = [
        {"step": s, "kind": kind, "idx": i, "layer": name, "value": 10.0 ** (i - s / 5)}
        for s in steps
        for i, name in enumerate(layers)
    ]
    return pd.DataFrame(rows)


def layout_title(fig: go.Figure) -> str:
    return fig.layout.title.text or ""


def test_model_family_and_colours():
    assert F.model_family("none") == "plain"
    assert F.model_family("A") == "resnet"
    assert F.model_family("B") == "resnet-b"
    assert F.model_family("concat") == "dense"
    assert F.model_family("B", arch="torchvision-resnet18") == "torchvision"
    # One hue per family; deeper is darker.
    shallow, deep = F.model_colour("plain", 20), F.model_colour("plain", 110)
    assert shallow != deep
    assert sum(int(shallow[i : i + 2], 16) for i in (1, 3, 5)) > sum(int(deep[i : i + 2], 16) for i in (1, 3, 5))
    assert F.model_colour("resnet", 56) != F.model_colour("plain", 56)


def test_run_series_from_config():
    s = F.run_series("plain-56", RunConfig(depth=56, shortcut="none"), steps_frame())
    assert (s.family, s.depth, s.label) == ("plain", 56, "plain-56")


def test_step_curves_traces_titles_and_legend():
    runs = [F.RunSeries("plain-20", "plain", 20, steps_frame()), F.RunSeries("ResNet-20", "resnet", 20, steps_frame())]
    fig = F.step_curves(runs, "loss", smoothing=0.5)
    named = [t for t in fig.data if t.showlegend is not False]
    assert [t.name for t in named] == ["plain-20", "ResNet-20"]
    assert len(fig.data) == 4  # a faint raw line under each smoothed one
    assert fig.layout.xaxis.title.text == "training step"
    assert fig.layout.yaxis.title.text == "cross-entropy loss (nats)"
    assert named[0].line.color != named[1].line.color
    assert "loss" in layout_title(fig).lower()


def test_step_curves_accuracy_in_percent_and_thinning():
    fig = F.step_curves([F.RunSeries("r", "resnet", 20, steps_frame(5000))], "acc", smoothing=0, max_points=500)
    (trace,) = fig.data
    assert len(trace.y) <= 501
    assert max(trace.y) == pytest.approx(60, abs=0.5)
    assert fig.layout.yaxis.title.text == "accuracy (%)"


def test_step_curves_nan_and_divergence():
    frame = steps_frame(20)
    frame.loc[5, "loss"] = np.nan
    frame.loc[6, "loss"] = np.inf
    frame.loc[10, "loss"] = 1e9  # a run that blew up: the axis turns logarithmic
    fig = F.step_curves([F.RunSeries("r", "plain", 20, frame)], "loss", smoothing=0)
    y = np.array(fig.data[0].y, dtype=float)
    assert np.isnan(y[5]) and np.isnan(y[6])
    assert fig.layout.yaxis.type == "log"
    assert "log scale" in fig.layout.yaxis.title.text


def test_ema_is_tensorboards_debiased_smoothing_by_hand():
    # w = 0.5 on 1, 2, 3 (TensorBoard: last = w·last + (1−w)·x from 0, divided by 1 − w^k):
    # 0.5/0.5 = 1; (0.25 + 1)/0.75 = 5/3; (0.625 + 1.5)/0.875 = 17/7.
    assert F.ema(np.array([1.0, 2.0, 3.0]), 0.5) == pytest.approx([1.0, 5 / 3, 17 / 7])
    # a constant stays constant from its first point (no pull towards zero)
    assert F.ema(np.full(50, 4.0), 0.99) == pytest.approx(np.full(50, 4.0))


def test_ema_skips_gaps_and_weight_zero_is_the_identity():
    out = F.ema(np.array([1.0, np.nan, 3.0, np.inf, 5.0]), 0.5)
    assert out[0] == 1.0 and np.isnan(out[1]) and np.isnan(out[3])
    assert out[2] == pytest.approx((0.5 * 1 + 3) / 1.5) and out[4] == pytest.approx((0.25 + 1.5 + 5) / 1.75)
    assert np.array_equal(F.ema(np.array([1.0, 2.0]), 0), [1.0, 2.0])


def test_ema_of_a_long_series_matches_the_recurrence():
    rng = np.random.default_rng(0)
    x, w = rng.random(5000), 0.95
    last, expected = 0.0, []
    for k, v in enumerate(x, start=1):
        last = w * last + (1 - w) * v
        expected.append(last / (1 - w**k))
    assert F.ema(x, w) == pytest.approx(expected)


def test_fixed_percent_axis_for_error_and_accuracy_only():
    runs = [F.RunSeries("r", "resnet", 20, steps_frame())]
    assert tuple(F.step_curves(runs, "acc", full_range=True).layout.yaxis.range) == (0, 100)
    assert F.step_curves(runs, "acc").layout.yaxis.range is None
    assert F.step_curves(runs, "loss", full_range=True).layout.yaxis.range is None
    points = pd.DataFrame({"epoch": [1, 2], "split": "test", "loss": [1.0, 0.5], "acc": [0.5, 0.7]})
    assert tuple(
        F.training_curves([F.RunSeries("r", "resnet", 20, points)], "error", full_range=True).layout.yaxis.range
    ) == (0, 100)


def test_lr_curves_draw_the_recorded_rates_on_a_log_axis_for_steps():
    frame = pd.DataFrame({"step": range(100), "lr": [0.1] * 50 + [0.01] * 25 + [0.001] * 25})
    fig = F.lr_curves([F.RunSeries("ResNet-20", "resnet", 20, frame)])
    (trace,) = fig.data
    assert list(trace.y) == pytest.approx(frame["lr"].tolist()) and fig.layout.yaxis.type == "log"
    assert fig.layout.xaxis.title.text == "training step" and "learning rate" in fig.layout.yaxis.title.text
    flat = F.lr_curves([F.RunSeries("r", "resnet", 20, pd.DataFrame({"step": [0, 1], "lr": [1e-3, 1e-3]}))])
    assert flat.layout.yaxis.type != "log"
    steps = np.arange(100)
    cosine = pd.DataFrame({"step": steps, "lr": 1e-3 * 0.5 * (1 + np.cos(np.pi * steps / 100))})  # ends near zero
    assert F.lr_curves([F.RunSeries("r", "resnet", 20, cosine)]).layout.yaxis.type != "log"
    assert not F.lr_curves([F.RunSeries("r", "resnet", 20, pd.DataFrame({"step": [0], "lr": [np.nan]}))]).data


def test_captions_name_only_the_curves_drawn():
    runs = [F.RunSeries("plain-20", "plain", 20, steps_frame()), F.RunSeries("ResNet-56", "resnet", 56, steps_frame())]
    steps = F.curves_caption(F.step_curves(runs, "loss", smoothing=0.6), "loss")
    assert "Bold" in steps and "smoothing 0.60" in steps and "No test curve" in steps and "Solid" not in steps
    assert "plain net vermillion (dashed)" in steps and "ResNet (A, identity) blue (solid)" in steps
    assert "darker" not in steps
    assert "faint" not in F.curves_caption(F.step_curves(runs, "loss", smoothing=0), "loss")
    epoch_only = pd.DataFrame(
        {
            "epoch": [1, 2, 1, 2],
            "split": ["test", "test", "train", "train"],
            "loss": [1, 0.5, 1, 0.5],
            "acc": [0.5, 0.7, 0.6, 0.8],
        }
    )
    fig = F.training_curves(
        [F.RunSeries("a", "resnet", 20, epoch_only), F.RunSeries("b", "resnet", 56, epoch_only)],
        "error",
        ("test", "train", "running"),
    )
    text = F.curves_caption(fig, "error")
    assert "Solid: test error, on the whole test set at each epoch's end" in text and "Dashed: training error" in text
    assert "Dotted" not in text and "No test curve" not in text and "deeper nets of a family darker" in text
    within = epoch_only.assign(epoch=[0.5, 1, 1, 2])
    assert "several times an epoch" in F.curves_caption(
        F.training_curves([F.RunSeries("a", "resnet", 20, within)]), "error"
    )
    assert F.curves_caption(F.step_curves([], "loss"), "loss") == ""


def test_epoch_curves_test_solid_train_dashed_and_error():
    fig = F.epoch_curves([F.RunSeries("plain-56", "plain", 56, epochs_frame())], "error")
    by_name = {t.name: t for t in fig.data}
    assert set(by_name) == {"plain-56 · train", "plain-56 · test"}
    assert by_name["plain-56 · test"].line.dash == "solid"
    assert by_name["plain-56 · train"].line.dash == "dash"
    assert list(by_name["plain-56 · test"].y) == pytest.approx([100 * (1 - 0.25 * e / 3) for e in (1, 2, 3)])
    assert fig.layout.xaxis.title.text == "epoch"
    assert fig.layout.yaxis.title.text == "error (%)"


def test_empty_inputs_give_an_explaining_figure():
    for fig in (
        F.step_curves([], "loss"),
        F.epoch_curves([F.RunSeries("r", "resnet", 20, epochs_frame(0))]),
        F.gradient_heatmap(probe_frame().iloc[0:0]),
        F.gradient_profile([]),
        F.init_profiles(pd.DataFrame()),
        F.init_ratio_figure(pd.DataFrame()),
        F.response_std_figure([]),
    ):
        assert not fig.data
        assert fig.layout.annotations and fig.layout.annotations[0].text


def test_gradient_heatmap_log_colour_scale_and_layer_order():
    probes = probe_frame()
    probes.loc[0, "value"] = 0.0  # cannot be shown on a log scale: left blank and counted
    fig = F.gradient_heatmap(probes, "grad_w", title="plain-20")
    (heat,) = fig.data
    z = np.array(heat.z, dtype=float)
    assert z.shape == (4, 3)  # layers x steps
    assert np.isnan(z[0, 0])
    assert z[3, 0] == pytest.approx(3.0)  # log10 of 10**3
    assert list(fig.layout.yaxis.ticktext) == ["conv1", "stage1.block0.conv1", "stage1.block0.conv2", "fc"]
    assert fig.layout.xaxis.title.text == "training step"
    assert "log" in heat.colorbar.title.text
    assert "left blank" in F.note_text(fig)


def test_shared_log_range():
    a, b = probe_frame(), probe_frame()
    b["value"] *= 1000
    lo, hi = F.log_range(a, b)
    assert lo == pytest.approx(-2.0) and hi == pytest.approx(6.0)
    fig = F.gradient_heatmap(a, z_range=(lo, hi))
    assert (fig.data[0].zmin, fig.data[0].zmax) == (lo, hi)
    assert F.log_range(a.iloc[0:0]) is None


def test_gradient_profile_log_axis_and_left_out_values():
    frame = probe_frame(steps=(0,))
    frame.loc[1, "value"] = np.nan
    fig = F.gradient_profile([F.RunSeries("plain-20", "plain", 20, frame)], "grad_out")
    assert fig.layout.yaxis.type == "log"
    assert fig.layout.yaxis.title.text == "‖∂L/∂y‖ (log scale)"
    assert "1 value is" in F.note_text(fig)


def init_frame():
    rows = []
    for shortcut, bn, init, first in (
        ("none", True, "kaiming", 1e6),
        ("none", False, "default", 0.0),
        ("A", True, "kaiming", 2.0),
    ):
        for depth in (20, 56):
            name = {"none": f"plain-{depth}", "A": f"ResNet-{depth} (A)"}[shortcut] + ("" if bn else " (no BN)")
            for idx, layer in enumerate(("conv1", "stage1.block0.conv1", "fc")):
                value = first if idx == 0 else 0.7
                rows.append(
                    dict(
                        model=name,
                        depth=depth,
                        shortcut=shortcut,
                        bn=bn,
                        init=init,
                        params=1,
                        loss=2.3,
                        idx=idx,
                        layer=layer,
                        rel_depth=idx / 2,
                        grad_w=value,
                        grad_out=value,
                        response_std=1.0,
                        weight_norm=1.0,
                    )
                )
    return pd.DataFrame(rows)


def test_init_profiles_facets_and_legend():
    fig = F.init_profiles(init_frame(), "grad_w")
    titles = [a.text for a in fig.layout.annotations]
    assert "BN on · kaiming init" in titles and "BN off · default init" in titles
    legend = [t.name for t in fig.data if t.showlegend]
    assert len(legend) == len(set(legend))  # each network once in the legend
    assert "plain-56" in legend and "ResNet-20 (A)" in legend
    assert fig.layout.yaxis.type == "log"
    assert "exactly 0" in F.note_text(fig)  # the zero first-layer gradients are reported, not hidden


def test_init_ratio_figure():
    from core.engine.probes import summarize_init

    summary = summarize_init(init_frame())
    fig = F.init_ratio_figure(summary)
    assert len(fig.data) == 9  # per network: first conv, last conv, ratio
    plain_bn = next(
        t for t in fig.data if t.name.startswith("plain") and "BN on" in t.name and t.name.endswith("ratio")
    )
    assert list(plain_bn.y) == pytest.approx([1e6 / 0.7, 1e6 / 0.7])
    first = next(t for t in fig.data if t.name.startswith("plain") and "BN on" in t.name and t.showlegend is not False)
    assert list(first.y) == pytest.approx([1e6, 1e6])  # the absolute norm beside the ratio
    assert first.customdata[0][2] == "exploding toward the input"  # named from the numbers
    assert fig.layout.yaxis.type == "log" and fig.layout.yaxis2.type == "log"
    assert fig.layout.xaxis.title.text == "depth (weighted layers)"


def test_response_std_figure_keeps_3x3_layers_only():
    frame = pd.DataFrame(
        {
            "idx": range(5),
            "layer": [
                "conv1",
                "stage1.block0.conv1",
                "stage2.block0.shortcut.0",
                "stage2.block0.merge",
                "stage2.block0.conv2",
            ],
            "value": [1.0, 0.5, 9.0, 9.0, 0.8],
        }
    )
    fig = F.response_std_figure([F.RunSeries("ResNet-20", "resnet", 20, frame)])
    by_order, by_size = fig.data
    assert list(by_order.y) == [1.0, 0.5, 0.8]
    assert list(by_size.y) == [1.0, 0.8, 0.5]
    assert fig.layout.xaxis.title.text == "3×3 layer index (input → output)"
    assert F.is_3x3_layer("layer2.0.conv1") and not F.is_3x3_layer("layer2.0.downsample.0")


def test_concept_figures():
    block = F.residual_block_diagram()
    texts = " ".join(a.text for a in block.layout.annotations)
    assert "plain block" in texts and "residual block" in texts and "identity" in texts
    table = F.table6_figure()
    paper = table.data[0]
    assert list(paper.x) == [20, 32, 44, 56, 110, 1202]
    assert list(paper.y) == [8.75, 7.51, 7.17, 6.97, 6.43, 7.93]
    assert table.layout.xaxis.type == "log"
    assert table.layout.yaxis.title.text == "CIFAR-10 test error (%)"
    assert math.isclose(min(paper.y), 6.43)


def test_shattering_figure_has_one_line_per_family_with_labelled_axes():
    table = pd.DataFrame(
        {
            "model": ["plain-8", "plain-56", "ResNet-8 (A)", "ResNet-56 (A)"],
            "depth": [8, 56, 8, 56],
            "shortcut": ["none", "none", "A", "A"],
            "bn": True,
            "init": "kaiming",
            "correlation": [0.92, 0.0, 0.97, 0.79],
        }
    )
    fig = F.shattering_figure(table)
    assert [t.name for t in fig.data] == [F.FAMILY_NAMES["plain"], F.FAMILY_NAMES["resnet"]]
    assert list(fig.data[0].y) == [0.92, 0.0] and list(fig.data[1].x) == [8, 56]
    assert "depth" in fig.layout.xaxis.title.text and "correlation" in fig.layout.yaxis.title.text
    assert "Nothing measured" in str(F.shattering_figure(pd.DataFrame()).layout.annotations[0].text)


def test_training_points_and_curves_draw_the_papers_three_measurements():
    epochs = pd.DataFrame(
        {
            "epoch": [1, 2],
            "step": [10, 20],
            "train_loss": [2.0, 1.5],
            "train_acc": [0.3, 0.5],
            "test_loss": [1.9, 1.4],
            "test_acc": [0.35, 0.55],
            "train_eval_loss": [1.8, 1.2],
            "train_eval_acc": [0.4, 0.6],
        }
    )
    evals = pd.DataFrame(
        {
            "step": [0, 5, 10, 15, 20],
            "epoch": [0, 0.5, 1, 1.5, 2],
            "loss": [2.3, 2.1, 1.9, 1.6, 1.4],
            "acc": [0.1, 0.2, 0.35, 0.45, 0.55],
            "images": [500, 500, 1000, 500, 1000],
        }
    )
    points = F.training_points(epochs, evals)
    assert points.groupby("split").size().to_dict() == {"test": 4, "train": 2, "running": 2}  # step 0 left out
    fig = F.training_curves([F.RunSeries("ResNet-20", "resnet", 20, points)], "error", ("test", "train", "running"))
    test, train, running = fig.data
    assert list(test.y) == pytest.approx([80, 65, 55, 45]) and test.line.dash == "solid"
    assert list(train.y) == pytest.approx([60, 40]) and train.line.dash == "dash" and "eval mode" in F.note_text(fig)
    assert running.line.dash == "dot" and list(running.y) == pytest.approx([70, 50])
    # a run recorded before the eval-mode columns: test at epoch ends, and only the running mean for training
    old = F.training_points(epochs.drop(columns=["train_eval_loss", "train_eval_acc"]))
    assert set(old.split) == {"test", "running"} and len(old) == 4
