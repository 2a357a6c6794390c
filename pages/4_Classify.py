"""Classify: one image (uploaded, or a test image of a data set) through one or more stored models:
top-5 probabilities side by side, and where each model looked (Captum attributions)."""

import random

import pandas as pd
import streamlit as st
import torch
from PIL import Image

from core.analysis import attribution, ood
from core.engine.config import DATASET_SIZES
from core.engine.data import CIFAR10_CLASSES, DataUnavailable, ImageError, load_dataset, preprocess_image
from core.runs.store import StoreError, datasets_dir
from core.runs.verdict import record_verdict
from dashboard import common, confusion_panel, figures, keys, lesson, poll_panel
from dashboard.analysis_panel import analysis_panel
from dashboard.common import BIND
from dashboard.ood_view import ood_note

UPLOAD_TYPES = ["png", "jpg", "jpeg", "webp", "bmp", "gif"]
# CIFAR-10's per-channel training-set statistics, for CIFAR-10 runs viewed where the data set is absent.
CIFAR10_MEAN, CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
PREVIEW_PX = 192  # the 32x32 input is enlarged with square pixels, so the student sees exactly those pixels


def available_datasets(store_root: str) -> dict[str, str]:
    """Data sets on this machine, name -> title; never starts a download (CIFAR-10 may also sit in
    the store's own data cache, where training downloads it)."""
    return {c.name: c.title for c in common.dataset_choices(datasets_dir(store_root)) if c.available}


@st.cache_resource(max_entries=8, show_spinner="Reading the training images' colour statistics…")
def input_spec(
    dataset: str, subset: int | None, store_root: str, on_disk: bool
) -> tuple[tuple[str, ...], tuple, tuple, str]:
    """Class names and the normalisation a run was trained with (stats of its own training images)."""
    fallback = (
        CIFAR10_CLASSES,
        CIFAR10_MEAN,
        CIFAR10_STD,
        "CIFAR-10 cannot be read on this machine, so its usual channel statistics are used to normalise the image.",
    )
    if dataset == "cifar10" and not on_disk:  # e.g. a shipped reference run trained elsewhere
        return fallback
    try:
        ds = load_dataset(dataset, subset=subset, seed=0, cache_dir=str(datasets_dir(store_root)))
    except DataUnavailable:
        if dataset != "cifar10":
            raise
        return fallback
    return ds.classes, ds.mean, ds.std, ""


@st.cache_resource(max_entries=2, show_spinner="Loading the test images…")
def sample_images(dataset: str, store_root: str):
    ds = load_dataset(dataset, cache_dir=str(datasets_dir(store_root)))
    return ds.x_test, ds.y_test, ds.classes, ds.title


@st.cache_resource(max_entries=16, show_spinner=False)
def load_detector(path: str, mtime_ns: int) -> ood.Detector:
    """A run's fitted out-of-distribution detector (core.analysis.ood), read once per file version."""
    with open(path, "rb") as f:
        return ood.Detector.from_bytes(f.read())


def ood_verdict(record, model, image, mean, std) -> tuple[ood.Verdict | None, str | None]:
    """The run's verdict on the image and its data set's title, or (None, None) while its detector is not fitted;
    the page never fits one (a worker does, or it shipped with the run)."""
    path = ood.cache_path(store, record)
    if not path.exists():
        return None, None
    detector = load_detector(str(path), path.stat().st_mtime_ns)
    return ood.judge(detector, model, image, mean, std)[0], detector.meta.get("dataset_title")


@st.cache_data(max_entries=256, show_spinner=False)
def heatmap(
    store_root: str, run_id: str, weights_mtime: float, image_bytes: bytes, mean, std, method: str, target: int
):
    """One attribution map, remembered so that changing another widget does not recompute it."""
    image = torch.frombuffer(bytearray(image_bytes), dtype=torch.uint8).reshape(3, 32, 32)
    return attribution.attribute(
        common.cached_model(store_root, run_id, weights_mtime), image, mean, std, method, target
    )


def read_upload(uploaded) -> tuple[torch.Tensor, Image.Image] | None:
    """The uploaded file as the model's 32x32 input, or None after telling the user what is wrong."""
    try:
        return preprocess_image(uploaded.getvalue())
    except ImageError as e:
        st.error(
            f"**{uploaded.name}** cannot be classified: {e}\n\nUpload another file, or choose *A test image "
            "from a data set* above.",
            icon=":material/broken_image:",
        )
        return None


st.title("Classify an image")
st.caption(
    "Send one image through trained networks, compare what they predict, and see which pixels drove each answer."
)

store = common.get_store()
poll_panel.show(store, page="Classify")
root = str(store.root)
models = common.finished_with_weights(store)
if not models:
    quick = common.offer_quick_training(
        store,
        "No trained model with saved weights is stored yet. Train one on the "
        "**Train** page (ideally a plain net and a ResNet of the same depth), "
        "or start a small one here.",
        key="classify_quick",
    )
    if quick is None:
        st.stop()
    models = [quick]

chosen = common.pick_runs(
    "Models",
    models,
    key=keys.MODELS,
    default_ids=lesson.default_models(models),
    max_selections=4,
    help="Up to four stored runs, side by side. Each uses its own data set's classes and normalisation.",
)
if not chosen:
    st.info("Choose at least one model above.")
    st.stop()
with st.expander("How each model does per class, on every test image", icon=":material/grid_on:"):
    confusion_panel.show(store, chosen, key="cls_confusion")

# ------------------------------------------------------------------------------------ the image
source = st.radio(
    "Image", ["A test image from a data set", "Upload your own"], horizontal=True, key=keys.IMAGE_SOURCE, bind=BIND
)
true_class, sample_dataset = None, None
if source == "Upload your own":
    uploaded = st.file_uploader(
        "Upload an image (PNG, JPEG, WebP, BMP or GIF)",
        type=UPLOAD_TYPES,
        key="classify_upload",
        help="It is cropped to its central square and shrunk to 32x32 pixels, like the training images.",
    )
    if uploaded is None:
        st.info(
            "Upload an image to classify it. Photos suit CIFAR-10 models; models trained on the built-in "
            "Shapes-10 set only know its 10 shapes (disc, ring, stripes…)."
        )
        st.stop()
    prepared = read_upload(uploaded)
    if prepared is None:
        st.stop()
    image, small = prepared
    original, original_caption = uploaded.getvalue(), f"{uploaded.name} as uploaded"
else:
    titles = available_datasets(root)
    wanted = chosen[0].config.dataset
    left, middle, right = st.columns([3, 3, 2], vertical_alignment="bottom")
    asked = common.link_values(keys.CLS_DATASET)
    sample_dataset = left.selectbox(
        "Data set",
        list(titles),
        index=list(titles).index(wanted) if wanted in titles else 0,
        format_func=titles.get,
        key=keys.CLS_DATASET,
        bind=BIND,
        help="Test images are never seen during training.",
    )
    common.note_ignored(asked, titles.values(), "data sets available here", left)
    try:
        x_test, y_test, sample_classes, _ = sample_images(sample_dataset, root)
    except DataUnavailable as e:
        st.error(f"The test images cannot be read: {e}")
        st.stop()
    index_key = keys.CLS_INDEX[sample_dataset]
    middle.number_input(
        f"Test image number (0 to {len(x_test) - 1:,})", 0, len(x_test) - 1, 0, step=1, key=index_key, bind=BIND
    )
    right.button(
        "Another image",
        key="classify_random",
        on_click=lambda: st.session_state.update({index_key: random.randrange(len(x_test))}),
    )
    index = int(st.session_state[index_key])
    image, true_class = x_test[index], sample_classes[int(y_test[index])]
    small = Image.fromarray(attribution.seen_image(image))
    original, original_caption = None, None

seen_column, info_column = st.columns([1, 2])
seen_column.image(
    small.resize((PREVIEW_PX, PREVIEW_PX), Image.Resampling.NEAREST),
    caption="What the model saw: 32x32 pixels, enlarged",
    width=PREVIEW_PX,
)
if original is not None:
    try:
        info_column.image(original, caption=original_caption, width=PREVIEW_PX * 2)
    except Exception:  # the browser-side preview is a courtesy; the model input above is what matters
        info_column.caption(f"{original_caption}: no preview available for this file.")
else:
    info_column.markdown(f"Test image **#{index:,}** of **{titles[sample_dataset]}**  \nTrue class: **{true_class}**")

# -------------------------------------------------------------------------------- predictions
names = lesson.short_names(chosen)
on_disk = available_datasets(root)
specs, notes = {}, set()
for record in chosen:
    info = record.info
    if {"classes", "mean", "std"} <= set(info):  # the run recorded how it normalised its inputs
        spec, note = (tuple(info["classes"]), tuple(info["mean"]), tuple(info["std"])), ""
    else:
        *spec, note = input_spec(record.config.dataset, record.config.subset, root, record.config.dataset in on_disk)
    specs[record.run_id] = spec
    if note:
        notes.add(note)
    if sample_dataset is not None and record.config.dataset != sample_dataset:
        notes.add(
            f"{names[record.run_id]} was trained on another data set than this test image's, so its answer "
            "can only be one of its own classes."
        )
for note in sorted(notes):
    st.caption(f"ℹ️ {note}")

mtimes = {r.run_id: common.weights_mtime(store, r.run_id) for r in chosen}
st.subheader("What each model knows")
unmeasured = []  # models whose out-of-distribution detector is not fitted yet
for record in chosen:
    classes = specs[record.run_id][0]
    data_title = record.info.get("dataset", record.config.dataset)
    n_train = record.info.get("n_train")
    line = (
        f"**{names[record.run_id]}** was trained on {f'{n_train:,} images of ' if n_train else ''}**{data_title}** and "
        f"knows {len(classes)} classes: {', '.join(classes)}. Whatever the image, it answers one of them."
    )
    if flag := record_verdict(record):
        line += f" ⚠ It {flag}."
    st.markdown(line)
    try:
        model = common.cached_model(root, record.run_id, mtimes[record.run_id])
        verdict, fitted_title = ood_verdict(record, model, image, *specs[record.run_id][1:])
    except (StoreError, ValueError) as e:
        st.caption(f"Cannot judge whether this image is like {names[record.run_id]}'s training data: {e}")
        continue
    note = ood_note(
        verdict, names[record.run_id], fitted_title or data_title, data_here=record.config.dataset in on_disk
    )
    if note.style == "offer":
        unmeasured.append(record)
    {"warning": st.warning, "info": st.info}.get(note.style, st.caption)(note.text)
if unmeasured:
    analysis_panel(
        store,
        unmeasured,
        "ood",
        {},
        label=f"Measure it for {', '.join(names[r.run_id] for r in unmeasured)}",
        key="classify_ood",
    )
st.caption(ood.WHY_CONFIDENT)

st.subheader("Top-5 predictions")
predictions = {}
for record in chosen:
    classes, mean, std = specs[record.run_id]
    try:
        model = common.cached_model(root, record.run_id, mtimes[record.run_id])
    except StoreError as e:
        st.error(str(e))
        continue
    predictions[record.run_id] = attribution.predict_topk(model, image, mean, std, classes, k=5)
if not predictions:
    st.stop()

by_id = {r.run_id: r for r in chosen}
for column, (run_id, top) in zip(st.columns(len(predictions)), predictions.items()):
    column.markdown(f"**{names[run_id]}**")
    record = by_id[run_id]
    column.caption(lesson.test_accuracy_line(record, DATASET_SIZES.get(record.config.dataset, (None, None))[1]))
    table = pd.DataFrame(
        {"rank": range(1, len(top) + 1), "class": [c for c, _ in top], "probability": [100 * p for _, p in top]}
    )
    column.dataframe(
        table,
        hide_index=True,
        width="stretch",
        key=f"top5_{run_id}",
        column_config={
            "probability": st.column_config.ProgressColumn(
                "probability (%)", format="%.1f%%", min_value=0, max_value=100
            )
        },
    )
series = [
    figures.run_series(
        names[i],
        by_id[i].config.resolved(),
        pd.DataFrame({"class": [c for c, _ in top], "probability": [p for _, p in top]}),
    )
    for i, top in predictions.items()
]
common.plotly_chart(figures.topk_bar_figure(series), width="stretch")

# ------------------------------------------------------------------------------- attributions
st.subheader("Where did each model look?")
left, right = st.columns(2)
methods = left.multiselect(
    "Attribution methods",
    attribution.METHODS,
    default=list(attribution.METHODS),
    key=keys.METHODS,
    bind=BIND,
    help=lesson.TERMS["attribution"],
)
shared = [c for c in specs[chosen[0].run_id][0] if all(c in specs[i][0] for i in predictions)]
explain = right.selectbox(
    "Class to explain",
    ["each model's top prediction", *shared],
    key=keys.EXPLAIN,
    bind=BIND,
    help="Attributions explain one class score; by default the class each model chose.",
)
if methods:
    image_bytes = image.contiguous().numpy().tobytes()
    seen = attribution.seen_image(image)
    with st.spinner("Computing attributions…"):
        for run_id, top in predictions.items():
            classes, mean, std = specs[run_id]
            target_name = top[0][0] if explain == "each model's top prediction" else explain
            target = classes.index(target_name)
            maps = {m: heatmap(root, run_id, mtimes[run_id], image_bytes, mean, std, m, target) for m in methods}
            probability = dict(top).get(target_name)
            title = f"<b>{names[run_id]}</b>: why “{target_name}”" + (
                f" ({100 * probability:.0f}%)" if probability is not None else ""
            )
            common.plotly_chart(
                figures.attribution_figure(seen, maps, title), width="stretch", key=f"attributions_{run_id}"
            )
    st.markdown("\n".join(f"- **{m}**: {attribution.METHOD_NOTES[m]}" for m in methods))
    st.caption(
        "Each map is scaled to its own maximum (gradient maps to their 99th percentile), so compare where "
        "the bright areas are, not how bright they are."
    )
else:
    st.info("Choose at least one attribution method.")
