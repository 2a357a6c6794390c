"""Lesion study (Veit, Wilber, Belongie 2016): delete blocks of a trained plain net and ResNet at test
time and watch which one survives. Every sentence that quotes a number is computed from the data shown."""

import pandas as pd
import streamlit as st

from core.analysis import inside, lesion
from core.runs.verdict import record_verdict
from dashboard import common, figures, keys, pairs, poll_panel
from dashboard.analysis_panel import analysis_panel
from dashboard.common import BIND
from dashboard.lesson import TERMS

IMAGE_CHOICES = (200, 500, 1000)
K_IMAGE_CHOICES = (0, 100, 200, 500)
SETTINGS_KEYS = (keys.LESION_IMAGES, keys.LESION_K_IMAGES, keys.LESION_DRAWS)

store = common.get_store()
st.title("Lesion study: delete a block, does the network survive?")
poll_panel.show(store, page="Lesion")
st.markdown(
    "Veit, Wilber and Belongie (2016) deleted single blocks of trained networks at test time. In their "
    "experiments a ResNet barely noticed and a plain net fell apart. Their reading: a ResNet behaves like an "
    "**ensemble of many paths** of "
    "different lengths, not like one deep chain. Try it on a plain net and a ResNet of the same depth."
)

# A net at chance has nothing to lose: open on a pair in which both learned.
plain, resnet = pairs.choose_pair(store, pairs.LESION_PAIR_KEYS, learned_first=True)
for record in (plain, resnet):
    if flag := record_verdict(record):
        st.warning(
            f"{record.config.model_name} {flag}: deleting its blocks has nothing to take away, so this pair "
            "cannot show the contrast. Choose a pair in which both networks learned.",
            icon=":material/warning:",
        )

with st.container(border=True):
    c1, c2, c3 = st.columns(3)
    images = c1.select_slider(
        "Test images (single-block sweep)", IMAGE_CHOICES, value=500, key=SETTINGS_KEYS[0], bind=BIND
    )
    k_images = c2.select_slider(
        "Test images (k random blocks)",
        K_IMAGE_CHOICES,
        value=200,
        key=SETTINGS_KEYS[1],
        bind=BIND,
        help="0 leaves the k-deletion curve out",
    )
    draws = c3.slider("Random draws per k", 1, 5, 3, key=SETTINGS_KEYS[2], bind=BIND)
    st.caption(
        f"What *deleting* means here. ResNet: {lesion.LESION_RULES[resnet.config.shortcut]}. "
        f"Plain net: {lesion.LESION_RULES['none']}. BN uses its running statistics; all other layers are as trained.",
        help=f"Option A/B: {TERMS['option A/B']} BN: {TERMS['BN']}",
    )

settings = dict(images=images, k_images=k_images, draws=draws)
results = {r.run_id: inside.cached_lesion(store, r, **settings) for r in (plain, resnet)}
missing = [r for r in (plain, resnet) if results[r.run_id] is None]
if missing:
    names = " and ".join(r.config.model_name for r in missing)
    n = (resnet.config.depth - 2) // 2
    st.markdown(
        f"Not computed yet for {names} with these settings. Deleting each of the {n} blocks in turn costs about "
        f"{lesion.sweep_passes(n):.0f} forward passes of the {images} test images (each lesioned pass starts at "
        "the deleted block, reusing the intact pass up to there). A worker computes it once for the whole class; "
        "the result is kept, so the next viewer (and `python -m core lesion`) gets it at once."
    )
    analysis_panel(store, missing, "lesion", settings, label=f"Run the lesion study on {names}", key="lesion_run")
    st.stop()

res, pla = results[resnet.run_id], results[plain.run_id]
bars = [pairs.lesion_series(pla, plain)[0], pairs.lesion_series(res, resnet)[0]]
common.plotly_chart(figures.lesion_blocks_figure(bars), width="stretch", key="lesion_bars")
st.caption(
    "Each bar is the test error with that one block deleted (dotted lines: the intact networks). "
    + " ".join([lesion.sweep_sentence(pla), lesion.sweep_sentence(res), lesion.contrast_sentence(res, pla)])
    + " **Veit et al.** found that deleting one block of a ResNet barely changes its CIFAR-10 error except at some "
    "downsampling blocks, while deleting a layer of a plain (VGG-style) net drops it to chance."
)

curves = [pairs.lesion_series(pla, plain)[1], pairs.lesion_series(res, resnet)[1]]
if all(c.frame.empty for c in curves):
    st.info("The k-deletion curve was left out (0 test images).")
else:
    common.plotly_chart(figures.lesion_k_figure(curves), width="stretch", key="lesion_k")
    st.caption(
        f"Test error with k blocks deleted at random ({draws} draw{'s' * (draws != 1)} per k; band: lowest to "
        "highest). "
        + " ".join(lesion.k_sentence(r) for r in (pla, res))
        + " **Veit et al.** found the ResNet's error rising smoothly with k, as an ensemble loses members one by one."
    )

st.subheader("Why a ResNet can lose a block: paths")
n = res.n_blocks
common.plotly_chart(
    figures.path_length_figure(pd.DataFrame(lesion.path_lengths(n)), n), width="stretch", key="lesion_paths"
)
st.caption(
    "Unroll a ResNet: at every block the signal either goes through the residual branch or skips it, so "
    f"{n} blocks make 2^{n} paths, and the number of residual branches on a path follows a binomial distribution. "
    + lesion.paths_sentence(n)
    + " Deleting one block removes the half of the paths that go through its residual "
    "branch; the other half still run. **Veit et al.** also measured that most of the gradient during training "
    "comes from short paths; that is *not* measured here, so this chart shows only how many paths there are."
)
