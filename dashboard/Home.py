"""ResNet Lab: an interactive dashboard on residual learning (He et al. 2015).

Start it from the repository root:  streamlit run dashboard/Home.py
The page scripts live in the top-level pages/ directory; st.navigation below wires them up.
"""

import sys
from pathlib import Path

# The one place that sets the import path: `streamlit run dashboard/Home.py` puts only dashboard/ on it, and
# every page runs in this process, so `import core` and `import dashboard` work from here on, from any working
# directory. (The command line runs as `python -m core` from the repository root; pytest.ini sets pythonpath.)
REPO_ROOT = Path(__file__).resolve().parent.parent
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

import streamlit as st  # noqa: E402

from dashboard.keys import PROJECTOR  # noqa: E402

# A link that opens in projector mode (a teacher's slide) starts with the sidebar folded: the room sees the page.
st.set_page_config(
    page_title="ResNet Lab",
    page_icon=":material/layers:",
    layout="wide",
    initial_sidebar_state="collapsed" if st.query_params.get(PROJECTOR, "").lower() == "true" else "auto",
)

# On a first start, loading PyTorch and installing the shipped runs take seconds: a tab opened then says so
# instead of staying blank (the spinner shows only if this takes longer than half a second, so not on reruns).
with st.spinner("Preparing the shipped reference runs… (the lab's first start takes a few seconds)"):
    from dashboard import common, figures, lesson  # noqa: E402
    from dashboard.server_log import setup_server_log  # noqa: E402

    common.prepare_store()
    try:
        setup_server_log()
    except OSError:  # a store folder that cannot take a log must not take the dashboard down
        pass

# Title, icon and file of every page after Home. Paths are absolute, so the app works whatever
# directory it is launched from (st.Page resolves relative paths against this file's folder).
PAGE_FILES = [
    ("Train", ":material/model_training:", "1_Train.py"),
    ("Gradients", ":material/insights:", "2_Gradients.py"),
    ("Compare", ":material/compare_arrows:", "3_Compare.py"),
    ("Classify", ":material/image_search:", "4_Classify.py"),
    ("Lesion", ":material/content_cut:", "5_Lesion.py"),
    ("Landscape", ":material/landscape:", "6_Landscape.py"),
    ("Layers", ":material/layers:", "7_Layers.py"),
    ("Runs", ":material/folder_managed:", "8_Runs.py"),
]
MAIN_STEPS = [  # title of the page, minutes, what to do there
    (
        "Train",
        "3 min",
        "Open (or start) a **ResNet-20** and, next to it, the **plain-20** of the same size, with "
        "the page's defaults. Watch the loss fall. Then overlay plain-20, plain-56, ResNet-20 and ResNet-56, "
        "the paper's Fig. 6 in miniature: which ends with the higher *training* error, plain-56 or plain-20? "
        "And ResNet-56 or ResNet-20?",
    ),
    (
        "Gradients",
        "3 min",
        "Compare gradient norms at initialisation across depths with batch norm on and off. "
        "Check for yourself which nets have vanishing gradients, which have exploding ones, and which neither.",
    ),
    (
        "Compare",
        "2 min",
        "Final error against depth for plain nets and ResNets, and learning curves averaged over "
        "seeds (runs that differ only in their random seed): does the deeper plain net lose, and is the gap "
        "larger than the spread between seeds?",
    ),
    (
        "Classify",
        "2 min",
        "Upload an image or pick a test image: the top-5 guesses of several trained networks "
        "side by side, which pixels each one looked at, and whether the image is like anything it was trained on.",
    ),
]
# Going further: three experiments from later papers that show *why* shortcuts help.
FURTHER_STEPS = [
    (
        "Lesion",
        "5 min",
        "Delete one block of a trained ResNet-56 and of plain-56 at test time and see which one "
        "survives. Veit et al. (2016) found that a ResNet acts like an ensemble of many shorter paths.",
    ),
    (
        "Landscape",
        "5 min",
        "Walk the training loss along random directions around the trained weights (Li et al. "
        "2018): how steep and how bumpy is the surface of plain-56 against ResNet-56?",
    ),
    (
        "Layers",
        "3 min",
        "One image through both nets: each layer's feature maps, and inside a block the residual "
        "F(x) next to the shortcut x it is added to.",
    ),
]


def introduction() -> None:
    """The question, the degradation problem and the residual idea, the paper's Fig. 2 and Table 6."""
    st.title("ResNet Lab")
    st.markdown(
        "#### Why can a residual network be 110 layers deep when a plain network of the same depth trains worse?"
    )

    left, right = st.columns([1, 1.15], gap="large")
    with left:
        st.markdown(
            lesson.degradation_intro() + "\n\n"
            "**The residual idea.** A deeper net could in principle copy the shallower one and make its extra "
            "layers identities. The paper's *hypothesis* is that solvers find identities hard to approximate with "
            "a stack of nonlinear layers, and that learning only the change *F*(*x*) = *H*(*x*) − *x* is easier: a "
            "residual block adds its input back through a shortcut and outputs *F*(*x*) + *x*, so an identity "
            "only needs *F* ≈ 0. Measured, deeper ResNets did train and test better up to 110 layers, though not "
            "without limit: ResNet-1202 tests worse than ResNet-110 (Table 6; the paper suspects overfitting). The "
            "shortcut gives signal and gradient a path around each block's layers; here a ReLU follows every "
            "addition, so the path is exactly an identity only in the later pre-activation ResNets (He et al. "
            "2016).\n\n"
            "**In this lab** you train plain nets and ResNets of equal depth and parameter count side by side, "
            "watch their curves live, look inside at per-layer gradient norms and responses, and classify "
            "your own images."
        )
    with right:
        common.plotly_chart(figures.residual_block_diagram(), width="stretch", config={"displayModeBar": False})

    common.plotly_chart(figures.table6_figure(), width="stretch")
    st.caption(lesson.table6_caption())


def on_this_machine(store) -> list:
    """The training device, the data sets and the stored runs (returned, newest first)."""
    st.subheader("On this machine")
    device, data_col, runs_col = st.columns(3, gap="large")
    with device:
        info = common.device_info()
        st.markdown("**Training device**")
        st.markdown(info["summary"])
        if info["kind"] == "CPU":
            st.caption("Without a GPU, keep runs small: a few thousand images, depth 20–56, a few epochs.")
    with data_col:
        st.markdown("**Data sets**")
        for choice in common.dataset_choices(store.datasets_dir):
            mark = ":material/check_circle:" if choice.available else ":material/block:"
            st.markdown(f"{mark} **{choice.title}**: {choice.note}")
            if choice.classes:
                st.caption("Classes: " + ", ".join(choice.classes))
    with runs_col:
        st.markdown("**Stored runs**")
        records = common.stored_runs(store)
        if not records:
            st.markdown("None yet. The Train page trains one in the background, or opens a stored one instantly.")
        else:
            st.markdown(lesson.store_counts(records))
            live = common.live_runs(store)
            if live:
                st.markdown("Queued or training now: " + "; ".join(f"{r.config.label} ({r.status})" for r in live))
        st.caption(f"Store: `{store.root}` (set RESNET_LAB_HOME to use another).")
        common.damage_note(store)
    return records


def home() -> None:
    """The Home page: the idea, this machine, and a 10-minute lesson through the other pages."""
    store = common.get_store()
    introduction()
    st.divider()
    records = on_this_machine(store)
    common.teacher_tools(store)
    if records and common.RUNS_PAGE.is_file():
        st.page_link(
            str(common.RUNS_PAGE),
            label=f"All {len(records)} stored runs, by data set, family, depth, recipe and tag",
            icon=":material/folder_managed:",
        )
    st.divider()
    st.subheader("A 10-minute lesson")
    lesson_steps(PAGES, MAIN_STEPS, start=1)
    st.markdown("**Going further**: three views from later papers on why shortcuts help.")
    lesson_steps(PAGES, FURTHER_STEPS, start=len(MAIN_STEPS) + 1)


def lesson_steps(pages: dict, steps: list[tuple[str, str, str]], start: int) -> None:
    """Numbered lesson steps: a link to the page (if ``pages`` has it), the minutes it takes, and what to do there."""
    for number, (title, minutes, text) in enumerate(steps, start=start):
        page = pages.get(title)
        cols = st.columns([0.22, 1], vertical_alignment="center")
        with cols[0]:
            if page is not None:
                st.page_link(page, label=f"{number}. {title}", icon=page.icon)
            else:
                st.markdown(f"**{number}. {title}**")
            st.caption(minutes)
        cols[1].markdown(text)


# Pages whose file is present; a missing page is simply left out of the menu.
PAGES = {
    title: st.Page(common.PAGES_DIR / filename, title=title, icon=icon)
    for title, icon, filename in PAGE_FILES
    if (common.PAGES_DIR / filename).is_file()
}
common.projector_mode()
common.teacher_login()
navigation = st.navigation([st.Page(home, title="Home", icon=":material/home:", default=True), *PAGES.values()])
link = st.sidebar.empty()
common.link_box(link)  # the address as the browser sent it; redrawn below once the page has set its widgets
navigation.run()
common.link_box(link)
