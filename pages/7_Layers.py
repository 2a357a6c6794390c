"""What each layer sees: one test image through a plain net and a ResNet of equal depth, their feature
maps, the parts of one block (F(x), shortcut x, sum), and each layer's response size (the paper's Fig. 7)."""

import streamlit as st
from PIL import Image

from core.analysis import features
from core.analysis.inputs import display_image, test_images
from core.engine.data import DataUnavailable
from core.runs.store import RunStore, datasets_dir
from dashboard import common, figures, keys, pairs, poll_panel
from dashboard.common import BIND
from dashboard.lesson import TERMS

TEST_IMAGES = 100  # class-balanced test images to choose from
CHANNELS = 8  # strongest channels drawn per network
PREVIEW_PX = 160
OPEN_AT = "stage2.block0"  # the layer and block the pickers open on: the first block that halves the maps


@st.cache_resource(max_entries=4, show_spinner="Loading the test images…")
def cached_images(store_root: str, run_id: str):
    record = RunStore(store_root).get(run_id)
    return test_images(record, TEST_IMAGES, cache_dir=str(datasets_dir(store_root)))


@st.cache_data(max_entries=64, show_spinner=False)
def look(store_root: str, run_id: str, weights_mtime: float, image_index: int, block: str):
    """Feature maps, the block's parts and the response stds for one image (one forward pass, well under a second)."""
    x, _, _ = cached_images(store_root, run_id)
    return features.inspect(common.cached_model(store_root, run_id, weights_mtime), x[image_index], block)


def layer_picker(container, label: str, names: list[str], key: str, help: str) -> str:
    """A selectbox over layer names, opening on stage2.block0 (where the maps first halve) when there is one."""
    index = names.index(OPEN_AT) if OPEN_AT in names else 0
    return container.selectbox(label, names, index=index, key=key, bind=BIND, help=help)


store = common.get_store()
st.title("What each layer sees")
poll_panel.show(store, page="Layers")
st.markdown(
    "One test image through a plain net and a ResNet of the same depth: the feature maps each layer hands on, "
    "and inside one block the residual branch F(x) beside the shortcut x it is added to."
)

plain, resnet = pairs.choose_pair(store, pairs.LAYERS_PAIR_KEYS)
pair = (plain, resnet)

try:
    x_test, y_test, classes = cached_images(str(store.root), resnet.run_id)
except DataUnavailable as e:
    st.error(f"The test images of {resnet.config.label} cannot be loaded: {e}", icon=":material/cancel:")
    st.stop()

model = common.cached_model(str(store.root), resnet.run_id, common.weights_mtime(store, resnet.run_id))
names = features.layer_names(model)
blocks = names[1:]
with st.container(border=True):
    c1, c2, c3, c4 = st.columns([1.1, 1, 1, 0.8])
    image_index = c1.slider("Test image", 0, TEST_IMAGES - 1, 0, key=keys.LAYERS_IMAGE, bind=BIND)
    layer = layer_picker(c2, "Layer for feature maps", names, keys.LAYER, TERMS["layer names"])
    block = layer_picker(
        c3,
        "Block to open",
        blocks,
        keys.BLOCK,
        "stage2.block0 and stage3.block0 halve the map and double the channels. " + TERMS["layer names"],
    )
    picture = Image.fromarray(display_image(x_test[image_index], resnet)).resize(
        (PREVIEW_PX, PREVIEW_PX), Image.NEAREST
    )
    c4.image(picture, caption=f"class: {classes[int(y_test[image_index])]} (32×32)", width=PREVIEW_PX)

views = {
    r.run_id: look(str(store.root), r.run_id, common.weights_mtime(store, r.run_id), image_index, block) for r in pair
}

# ----------------------------------------------------------------------------- feature maps
rows = []
for r in pair:
    maps = views[r.run_id][0][layer]
    rows.append((r.config.model_name, [(f"ch {c}", maps[c]) for c in features.strongest_channels(maps, CHANNELS)]))
common.plotly_chart(figures.feature_maps_figure(rows, layer), width="stretch", key="layers_maps")
st.caption(
    f"The {CHANNELS} channels with the largest mean activation at the output of {layer} in each network, for this "
    "image (one colour scale for all). "
    + features.maps_sentence(layer, {r.config.model_name: views[r.run_id][0][layer] for r in pair})
    + " The two nets learn different channels, so compare the kind of pattern each keeps, not channel numbers; "
    "**Zeiler and Fergus** (2014) found early layers of trained conv nets responding to edges and colours and deeper "
    "ones to larger parts of objects."
)

# ----------------------------------------------------------------------------- inside a block
parts = {r.run_id: views[r.run_id][1] for r in pair}
output = parts[resnet.run_id].parts["output"]
channel = st.slider(
    "Channel",
    0,
    output.shape[0] - 1,
    features.strongest_channels(output, 1)[0],
    key=keys.CHANNEL,
    bind=BIND,
    help="Opens on the ResNet's strongest output channel of this block",
)
part_rows = []
for r in pair:
    view = parts[r.run_id]
    part_rows.append(
        (r.config.model_name, [(p, view.parts[p][channel] if p in view.parts else None) for p in features.PARTS])
    )
common.plotly_chart(figures.block_parts_figure(part_rows, block, channel), width="stretch", key="layers_parts")
st.caption(
    "Inside the block for this image and channel (red positive, blue negative, one scale): the residual branch "
    "F(x) after its second BN, the shortcut x, their sum before the final ReLU, and the output after it. "
    + " ".join(features.parts_sentence(r.config.model_name, parts[r.run_id]) for r in pair)
    + " **He et al.** argue that if an identity mapping is close to optimal, the residual F(x) only has to learn "
    "a small correction to x."
)

# ----------------------------------------------------------------------------- response std
series, stds = [], {}
for r in pair:
    frame = views[r.run_id][2]
    series.append(figures.run_series(r.config.model_name, r.config, frame))
    stds[r.config.model_name] = frame[frame["layer"].map(figures.is_3x3_layer)]["value"]
common.plotly_chart(
    figures.response_std_figure(series, title="Std of each 3×3 layer's response for this image (cf. He et al. Fig. 7)"),
    width="stretch",
    key="layers_std",
)
st.caption(
    "The std of each 3×3 layer's response (after BN, before the ReLU or the addition) over this one image's "
    "maps, BN in eval mode. " + features.response_sentence(stds, resnet.config.model_name) + " **He et al.** (Fig. 7, "
    "CIFAR-10 after full training) found ResNets' responses generally smaller than plain nets': the residual "
    "functions stay closer to zero."
)
