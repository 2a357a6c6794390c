"""The Compare and Classify figure builders of dashboard.figures: traces, labels and empty inputs."""

import numpy as np
import pandas as pd

from core.analysis import compare
from core.engine.config import RunConfig
from dashboard import figures


def depth_rows():
    rows = []
    for shortcut, errors in (("none", (10, 12)), ("A", (9, 7))):
        for depth, error in zip((20, 56), errors):
            rows.append(
                dict(
                    model=f"{shortcut}-{depth}",
                    arch="cifar",
                    shortcut=shortcut,
                    bn=True,
                    depth=depth,
                    dataset="CIFAR-10",
                    seeds=2,
                    train_error_mean=error - 2,
                    train_error_std=0.5,
                    test_error_mean=error,
                    test_error_std=0.3,
                    paper_test_error=np.nan,
                )
            )
    return pd.DataFrame(rows)


def test_depth_error_figure_draws_families_splits_and_the_paper():
    fig = figures.depth_error_figure(depth_rows(), compare.paper_table(), "CIFAR-10")
    names = [t.name for t in fig.data]
    assert names[-1].startswith("He et al. 2015, Table 6 (CIFAR-10, the paper's own schedule)")
    assert len(fig.data) == 5  # plain and ResNet, test and training, and the paper
    assert {t.line.dash for t in fig.data[:-1]} == {"solid", "dash"}
    assert fig.layout.xaxis.title.text == "depth (weighted layers)" and fig.layout.yaxis.title.text == "error (%)"
    assert "CIFAR-10" in fig.layout.title.text
    without_paper = figures.depth_error_figure(depth_rows())
    assert not any("Table 6" in t.name for t in without_paper.data)


def test_seed_band_figure_shades_only_curves_with_several_seeds():
    epochs = np.arange(1, 4)
    many = pd.DataFrame({"epoch": epochs, "mean": [50.0, 30, 20], "std": [2.0, 1, 1], "seeds": 5})
    one = pd.DataFrame({"epoch": epochs, "mean": [60.0, 40, 30], "std": [0.0, 0, 0], "seeds": 1})
    series = [
        figures.run_series("ResNet-20 (A)", RunConfig(shortcut="A"), many),
        figures.run_series("plain-20", RunConfig(shortcut="none"), one),
    ]
    fig = figures.seed_band_figure(series, "test error (%)")
    fills = [t for t in fig.data if t.fill == "toself"]
    assert len(fills) == 1 and len(fig.data) == 3
    assert fig.layout.yaxis.title.text == "test error (%)" and fig.layout.xaxis.title.text == "epoch"
    assert "No finished epochs" in figures.seed_band_figure([], "x").layout.annotations[0].text


def test_topk_bar_figure_groups_models_in_percent():
    top = pd.DataFrame({"class": ["cat", "dog"], "probability": [0.7, 0.2]})
    other = pd.DataFrame({"class": ["dog", "ship"], "probability": [0.5, 0.4]})
    fig = figures.topk_bar_figure(
        [figures.run_series("a", RunConfig(), top), figures.run_series("b", RunConfig(shortcut="none"), other)]
    )
    assert list(fig.data[0].x) == ["cat", "dog", "ship"]
    assert fig.data[0].y[0] == 70 and fig.data[0].y[2] is None
    assert fig.layout.barmode == "group" and fig.layout.yaxis.title.text == "probability (%)"


def test_attribution_figure_and_overlay():
    seen = np.full((32, 32, 3), 100, np.uint8)
    maps = {"Saliency": np.zeros((32, 32)), "Grad-CAM": np.ones((32, 32))}
    fig = figures.attribution_figure(seen, maps, "ResNet-20: why “cat”")
    images = [t for t in fig.data if t.type == "image"]
    assert len(images) == 3  # what it saw, and one panel per method
    assert [a.text for a in fig.layout.annotations][:3] == ["what it saw (32×32)", "Saliency", "Grad-CAM"]
    overlay = figures.heatmap_overlay(seen, maps["Grad-CAM"])
    assert overlay.shape == (32, 32, 3) and overlay.dtype == np.uint8
    assert (
        np.abs(figures.heatmap_overlay(seen, maps["Saliency"]).astype(int) - 100).max() < 20
    )  # unimportant: the image
    assert "Choose at least one" in figures.attribution_figure(seen, {}).layout.annotations[0].text
