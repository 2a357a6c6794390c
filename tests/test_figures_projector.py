"""Projector mode and colour in dashboard.figures, on data: every chart text at least 18 px in projector mode,
the families in the Okabe–Ito palette and told apart by line or marker as well as by colour."""

import numpy as np
import pandas as pd
import pytest
from test_figures import epochs_frame, steps_frame

from dashboard import figures as F

OKABE_ITO = {"#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#000000"}


def runs(frame):
    return [F.RunSeries("plain-56", "plain", 56, frame), F.RunSeries("ResNet-56", "resnet", 56, frame)]


def sample_figures():
    table = pd.DataFrame(
        {"shortcut": ["none", "none", "A", "A"], "depth": [8, 20, 8, 20], "correlation": [0.5, 0.1, 0.6, 0.4]}
    )
    alphas = np.linspace(-1, 1, 5)
    plane = np.exp(np.add.outer(alphas**2, alphas**2))
    seeds = pd.DataFrame({"epoch": [1, 2], "mean": [50.0, 40.0], "std": [2.0, 1.0], "seeds": [3, 3]})
    return {
        "steps": F.step_curves(runs(steps_frame()), "loss"),
        "epochs": F.epoch_curves(runs(epochs_frame()), "error"),
        "shattering": F.shattering_figure(table),
        "seed bands": F.seed_band_figure(runs(seeds), "test error (%)"),
        "contour": F.landscape_contour_figure(
            [("plain-56", alphas, alphas, plane), ("ResNet-56", alphas, alphas, plane)]
        ),
        "table 6": F.table6_figure(),
        "empty": F.empty_figure("Nothing here yet.", "A chart"),
    }


@pytest.mark.parametrize("name", list(sample_figures()))
def test_projector_mode_draws_every_chart_text_at_18_px_or_more(name):
    fig = sample_figures()[name]
    assert min(F.text_sizes(fig).values()) < F.PROJECTOR_FONT  # the normal chart is smaller...
    big = F.projector(fig)
    sizes = F.text_sizes(big)
    small = {k: v for k, v in sizes.items() if v < 18}
    assert not small, small  # ...the projector's is not: ticks, legends, axis titles, annotations, colour bars
    assert sizes["title"] >= F.PROJECTOR_TITLE and big.layout.height > (fig.layout.height or 450)
    assert F.text_sizes(fig) != sizes  # a copy: the figure the page cached is left as it was
    if fig.layout.title.subtitle.text:  # room under the title for the enlarged note, clear of panel titles
        assert big.layout.margin.t >= 150


def test_families_use_the_okabe_ito_palette_and_never_red_against_green():
    assert set(F.FAMILY_COLOURS.values()) <= OKABE_ITO
    assert len(set(F.FAMILY_COLOURS.values())) == len(F.FAMILY_COLOURS)
    assert F.FAMILY_COLOURS["plain"] == "#D55E00" and F.FAMILY_COLOURS["resnet"] == "#0072B2"
    for family in F.FAMILY_COLOURS:  # shades by depth stay on the family's hue, lighter or darker
        assert F.model_colour(family, 8) != F.model_colour(family, 110)


def test_each_family_has_its_own_line_style_and_marker():
    assert len(set(F.FAMILY_DASH.values())) == len(F.FAMILY_DASH) and F.FAMILY_DASH["resnet"] == "solid"
    assert F.FAMILY_DASH["plain"] == "dash" and len(set(F.FAMILY_SYMBOL.values())) == len(F.FAMILY_SYMBOL)
    figs = sample_figures()
    for name in ("steps", "seed bands"):  # one split: the family is the dash
        lines = [t for t in figs[name].data if t.name in ("plain-56", "ResNet-56")]
        assert {t.name: t.line.dash for t in lines} == {"plain-56": "dash", "ResNet-56": "solid"}, name
    shattering = {t.name: (t.line.dash, t.marker.symbol) for t in figs["shattering"].data if t.mode}
    assert shattering["plain net"] == ("dash", "square") and shattering["ResNet (A, identity)"] == ("solid", "circle")
    # Training and test curves keep the paper's dashes (training dashed); the family is in the marker.
    epochs = {t.name: (t.line.dash, t.marker.symbol) for t in figs["epochs"].data}
    assert epochs["plain-56 · test"] == ("solid", "square") and epochs["ResNet-56 · train"] == ("dash", "circle")
    points = pd.DataFrame({"epoch": [1, 2, 1, 2], "split": ["test"] * 2 + ["train"] * 2, "loss": 1.0, "acc": 0.5})
    train_page = F.training_curves(runs(points), "error", ("test", "train"))
    assert {t.marker.symbol for t in train_page.data} == {"square", "circle"}
    caption = F.curves_caption(train_page, "error")
    assert "plain net vermillion (squares)" in caption and "ResNet (A, identity) blue (circles)" in caption


def test_every_chart_downloads_as_a_png_named_after_it():
    from dashboard import common

    fig = F.seed_band_figure(runs(pd.DataFrame({"epoch": [1], "mean": [5.0], "std": [0.0], "seeds": [1]})), "loss")
    config = common.chart_config(fig)
    assert config["toImageButtonOptions"] == dict(
        format="png", filename="loss_per_epoch__mean___std_over_seeds", scale=2
    )
    assert common.chart_config(fig, "train_overlay_chart")["toImageButtonOptions"]["filename"] == "train_overlay_chart"
    assert common.chart_config(fig, config={"displayModeBar": False})["displayModeBar"] is False
