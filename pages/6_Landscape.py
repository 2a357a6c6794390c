"""Loss landscape (Li, Xu, Taylor, Studer, Goldstein 2018): the training loss around a trained plain net's
and ResNet's weights, along filter-normalised random directions. Numbers in sentences come from the data shown."""

import numpy as np
import pandas as pd
import streamlit as st

from core.analysis import inside, landscape
from dashboard import common, figures, keys, pairs, poll_panel
from dashboard.analysis_panel import analysis_panel
from dashboard.common import BIND
from dashboard.lesson import TERMS

SLICE_POINTS = (21, 41, 81)
PLANE_POINTS = {"coarse, 11×11": 11, "medium, 21×21": 21, "fine, 41×41": 41}
BATCHES = (64, 128, 256)
SPANS = (0.25, 0.5, 1.0)


def compute_missing(store, pair, settings: dict, kind: str, steps: int, label: str) -> None:
    """Ask a worker for the landscapes of ``pair`` not on disk yet and follow the jobs (``analysis_panel``);
    ``settings`` are the directions' seed, the span and the batch."""
    missing = [r for r in pair if inside.cached_landscape(store, r, kind=kind, steps=steps, **settings) is None]
    if not missing:
        return
    points = steps if kind == "1d" else steps * steps
    st.markdown(
        f"Not computed yet for {' and '.join(r.config.model_name for r in missing)}: {points:,} forward passes "
        f"of {settings['batch']} images each, computed once by a worker for everyone who asks."
    )
    params = dict(kind=kind, steps=steps, **settings)
    analysis_panel(store, missing, "landscape", params, label=f"Compute the {label}", key=f"landscape_run_{kind}")


def loaded(store, pair, settings: dict, kind: str, steps: int) -> list:
    """The landscapes of both networks of ``pair`` from the disk cache, or [] until both are there."""
    found = [inside.cached_landscape(store, r, kind=kind, steps=steps, **settings) for r in pair]
    return found if all(found) else []


store = common.get_store()
st.title("Loss landscape: the surface the optimiser walks on")
poll_panel.show(store, page="Landscape")
st.markdown(
    "Li et al. (2018) drew the training loss around a trained network's weights θ along random directions δ in "
    "weight space: θ + αδ (a slice) and θ + αδ + βη (a plane). Each filter of a direction is scaled to the norm "
    "of the same filter of θ (*filter normalisation*), so α = 1 is a step as long as the weights themselves. "
    "They found ResNet-56's surface smooth and nearly convex, and plain-56's chaotic."
)

pair = pairs.choose_pair(store, pairs.LANDSCAPE_PAIR_KEYS)  # (plain net, ResNet)

with st.container(border=True):
    c1, c2, c3 = st.columns(3)
    span = c1.select_slider("Span: α and β from −span to +span", SPANS, value=1.0, key=keys.SPAN, bind=BIND)
    batch = c2.select_slider(
        "Training images the loss is measured on",
        BATCHES,
        value=128,
        key=keys.LAND_BATCH,
        bind=BIND,
        help="One fixed, class-balanced batch of each run's own training images",
    )
    seed = c3.number_input(
        "Directions seed", 0, 999, 0, key=keys.LAND_SEED, bind=BIND, help="Another seed draws other directions"
    )
    st.caption(
        "BN is in eval mode and uses the running statistics stored with the weights; BN scales and shifts and "
        "all biases are left unperturbed, as in the paper. Results are kept on disk, so a second viewer (and "
        "`python -m core landscape`) gets them at once.",
        help=TERMS["BN"],
    )
settings = dict(seed=seed, span=span, batch=batch)

# ------------------------------------------------------------------------------------ 1-D slices
st.header("1 · A slice through the weights", divider="gray")
slice_points = st.select_slider("Points along the slice", SLICE_POINTS, value=41, key=keys.SLICE_POINTS, bind=BIND)
compute_missing(store, pair, settings, "1d", slice_points, f"1-D slices ({slice_points} points)")
slices = loaded(store, pair, settings, "1d", slice_points)
if slices:
    series = [
        figures.run_series(r.config.model_name, r.config, pd.DataFrame({"alpha": s.alphas, "loss": s.loss}))
        for r, s in zip(pair, slices)
    ]
    common.plotly_chart(figures.landscape_slice_figure(series), width="stretch", key="landscape_slice")
    st.caption(
        f"Training loss on {batch} fixed training images along one random direction (log scale). "
        + landscape.slice_sentence(slices)
        + " "
        + landscape.smoothness_verdict(slices[1], slices[0])
        + " Steepness is the largest change of log10 loss between neighbouring points per unit of α; curvature is "
        "the mean size of the loss's second difference (how hard the slice bends). **Li et al.** "
        "found ResNet-56's slices smooth and bowl-shaped and plain-56's chaotic; how much a small step in weight "
        "space changes the loss is what the optimiser has to cope with."
    )

# ------------------------------------------------------------------------------------ 2-D planes
st.header("2 · A plane of two directions", divider="gray")
resolution = st.radio(
    "Grid",
    list(PLANE_POINTS),
    horizontal=True,
    key=keys.GRID,
    bind=BIND,
    help="One forward pass per grid point and network: "
    + ", ".join(f"{n * n:,} for {name.split(',')[0]}" for name, n in PLANE_POINTS.items()),
)
steps = PLANE_POINTS[resolution]
compute_missing(store, pair, settings, "2d", steps, f"2-D planes ({steps}×{steps})")
planes = loaded(store, pair, settings, "2d", steps)
if planes:
    items = [
        (r.config.model_name, np.array(p.alphas), np.array(p.betas), np.array(p.loss, dtype=float))
        for r, p in zip(pair, planes)
    ]
    common.plotly_chart(figures.landscape_contour_figure(items), width="stretch", key="landscape_contour")
    st.caption(
        f"Contours of the training loss on {batch} images over a plane of two random directions (one colour "
        "scale, log10 loss; × marks the trained weights). "
        + " ".join(landscape.contour_sentence(p) for p in planes)
        + " **Li et al.** (their Fig. 5) found concentric, nearly convex contours around ResNet-56 and chaotic, "
        "non-convex ones around plain-56 of the same depth."
    )
