"""Widget keys, one home for all of them. Each is also the widget's query parameter in the page's URL
(widgets are created with ``bind="query-params"``), so a link such as
``/Gradients?grad_depths=110&grad_nets=plain&grad_bn=off&grad_init=PyTorch+default`` opens a page set up
exactly so. Names are short, readable and unique across all pages: a bound value stays in the URL when the
user moves to another page, and must not be read there as another page's setting.

A selection widget's value in the URL is the option's label as the page shows it (e.g. ``grad_bn=off``,
``models=★ ResNet-56 (A) · …``); numbers and switches appear as such (``depth=56``, ``bn=false``).
Widgets whose value does not belong in a link (passphrase, uploads, buttons, per-run teacher fields) are
not bound.
"""

# Every page (the sidebar)
PROJECTOR = "projector"

# Train: the network, recipe and data of a new run
ARCH = "arch"
DEPTH = "depth"
BLOCKS = "n"  # blocks per stage, when the depth is "other (6n+2)"
BN = "bn"
INIT = "init"
RECIPE = "recipe"
# ...and its advanced settings (each left at "the recipe's" stays out of the URL and out of the run's label)
LR = "lr"
SCHEDULE = "schedule"
BATCH = "batch"
AUGMENT = "augment"
WARMUP = "warmup"
WARMUP_RAMP = "ramp"
EPOCHS = "epochs"
SEED = "seed"
PROBES = "probes"
DATASET = "data"
# The subset sizes have one widget per data set (their ranges differ).
TRAIN_IMAGES = {"builtin": "imgs", "cifar10": "cifar_imgs"}
TEST_IMAGES = {"builtin": "test_imgs", "cifar10": "cifar_test_imgs"}
# Train: how the charts are drawn
SMOOTHING = "smooth"
FULL_PERCENT = "y100"
# Train: the overlay of several runs
OVERLAY = "overlay"
OVERLAY_METRIC = "y"
OVERLAY_X = "x"
OVERLAY_SPLITS = "curves"

# Gradients
GRAD_DEPTHS = "grad_depths"
GRAD_NETS = "grad_nets"
GRAD_BN = "grad_bn"
GRAD_INIT = "grad_init"
GRAD_KIND = "grad_y"
GRAD_DATASET = "grad_data"
SHATTER = "shatter"
GRAD_LEFT = "grad_left"
GRAD_RIGHT = "grad_right"
GRAD_TRAIN_KIND = "grad_train_y"
GRAD_STEP = "grad_step"
STD_RUNS = "std_runs"

# Compare
CMP_SETUP = "cmp_setup"
CMP_NETS = "cmp_nets"
CMP_METRIC = "cmp_y"
CMP_PERCENT = "cmp_pct"  # error and accuracy on a fixed 0–100% axis

# Classify (an uploaded image is not part of a link)
MODELS = "models"
IMAGE_SOURCE = "image"
CLS_DATASET = "cls_data"
CLS_INDEX = {"builtin": "img", "cifar10": "cifar_img"}  # the test image's number, per data set
METHODS = "methods"
EXPLAIN = "explain"

# Lesion
LESION_PLAIN = "lesion_plain"
LESION_RESNET = "lesion_resnet"
LESION_IMAGES = "lesion_imgs"
LESION_K_IMAGES = "lesion_k_imgs"
LESION_DRAWS = "lesion_draws"

# Landscape
LAND_PLAIN = "land_plain"
LAND_RESNET = "land_resnet"
SPAN = "span"
LAND_BATCH = "land_batch"
LAND_SEED = "land_seed"
SLICE_POINTS = "slice_points"
GRID = "grid"

# Layers
LAYERS_PLAIN = "layers_plain"
LAYERS_RESNET = "layers_resnet"
LAYERS_IMAGE = "layers_img"
LAYER = "layer"
BLOCK = "block"
CHANNEL = "channel"

# Runs: the filters (a link opens the same selection)
RUNS_DATASET = "runs_data"
RUNS_FAMILY = "runs_family"
RUNS_DEPTH = "runs_depth"
RUNS_RECIPE = "runs_recipe"
RUNS_TAG = "runs_tag"
# Runs: teacher actions (not bound: they do not belong in a link)
RUNS_PICK = "runs_pick"
RUNS_EXPORT_TITLE = "runs_title"
RUNS_EXPORT_PREPARE = "runs_prepare"
RUNS_EXPORT_VOTES = "runs_votes"
RUNS_EXPORT_FILE = "runs_file"  # not a widget: the prepared lesson file (selection, file name, bytes, summary)
RUNS_IMPORT_UPLOAD = "runs_upload"
RUNS_IMPORT_OVERWRITE = "runs_overwrite"
RUNS_IMPORT_BUTTON = "runs_import"
RUNS_NOTE = "runs_note"  # not a widget: what the last action did, shown once after the rerun


def all_keys() -> list[str]:
    """Every query-parameter name above (those of per-data-set widgets included)."""
    names = []
    for name, value in globals().items():
        if name.isupper():
            names.extend(value.values() if isinstance(value, dict) else [value])
    return names


# Train: the sweep panel (a grid of networks and seeds)
SWEEP_PRESET = "sweep"
SWEEP_SEEDS = "sweep_seeds"
SWEEP_DATA = "sweep_data"
SWEEP_START = "sweep_start"  # a button: not bound to the URL

# Every lesson page: the class question (Predict, then reveal); none is bound to the URL
POLL_VOTE = "poll_vote"  # a prefix: one button per choice, "<prefix>_<poll>_<choice>"
POLL_PICK = "poll_pick"  # the teacher's choice of a built-in question
POLL_OPEN = "poll_open"
POLL_REVEAL = "poll_reveal"
POLL_CLOSE = "poll_close"
POLL_REOPEN = "poll_reopen"
POLL_CLEAR = "poll_clear"
POLL_OWN_TEXT = "poll_own_text"  # a teacher's own question: its text, runs, measurement and pick
POLL_OWN_RUNS = "poll_own_runs"
POLL_OWN_METRIC = "poll_own_metric"
POLL_OWN_PICK = "poll_own_pick"
POLL_OWN_OPEN = "poll_own_open"
POLL_NOTE = "poll_note"  # not a widget: what the teacher's last action did, shown once
