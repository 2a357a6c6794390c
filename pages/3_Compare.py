"""Compare: final error vs depth (with the paper's Table 6 on CIFAR-10), learning curves averaged over
seeds with the sum of squared residuals between them (as student study 001 did), and a per-epoch test
accuracy table (as student study 004 did)."""

import streamlit as st

from core.analysis import compare
from core.analysis.paper import SOURCE as PAPER_SOURCE
from core.analysis.paper import TABLE3_SOURCE, TABLE3_TOP1
from core.runs import lifecycle
from dashboard import common, confusion_panel, figures, keys, lesson, poll_panel
from dashboard.common import BIND
from dashboard.lesson import STUDY_001, STUDY_004, TERMS


def mean_std(mean: float, std: float) -> str:
    """'12.34 ± 0.56' for a table cell; one seed has no std, and a missing value shows as a dash."""
    return "–" if mean != mean else f"{mean:.2f}" + ("" if std != std else f" ± {std:.2f}")  # NaN != NaN


def csv_download(label: str, data: str, file_name: str, key: str) -> None:
    """A button that downloads ``data``, a CSV text made by ``core.analysis.compare``."""
    st.download_button(label, data, file_name=file_name, mime="text/csv", key=key)


st.title("Compare depths and shortcuts")
st.caption(
    "Finished runs only. Final training error is measured as the paper plots it (eval mode, at the end) where "
    "a run recorded it. Runs that differ only in their random seed are averaged: the line is the mean, "
    "the band or error bar one standard deviation across seeds.",
    help=TERMS["seed"],
)

store = common.get_store()
poll_panel.show(store, page="Compare")
records = common.stored_runs(store)
groups = compare.group_runs(records)

if not groups:
    common.offer_quick_training(
        store,
        (
            "Nothing to compare yet. On the **Train** page, train networks that differ in one thing only, e.g. "
            "**plain-20 and ResNet-20** (shortcut *none* vs *A*), then the same at depth 32, 44 and 56 to see error "
            f"against depth; train **option B** too for A vs B; repeat a network with other **seeds** ({STUDY_001} "
            "used 5) for mean ± std bands. Or start with one small run here:"
        ),
        key="compare_quick",
    )
    st.stop()

unfinished = sum(not lifecycle.is_done(r) for r in records)
setup_labels = compare.setups(groups)
asked = common.link_values(keys.CMP_SETUP)
setup = st.selectbox(
    "Training setup",
    list(setup_labels),
    format_func=setup_labels.get,
    key=keys.CMP_SETUP,
    bind=BIND,
    help="Only runs trained the same way are compared with each other; each setup lists the "
    "networks trained with it. " + TERMS["training setup"],
)
common.note_ignored(asked, setup_labels.values(), "training setups stored here")
in_setup = [g for g in groups if g.setup == setup]
dataset, dataset_title = in_setup[0].dataset, in_setup[0].dataset_title
st.caption(
    f"{len(in_setup)} network(s), {sum(len(g.records) for g in in_setup)} run(s) in this setup"
    + (f"; {unfinished} unfinished run(s) in the store are left out." if unfinished else ".")
    + " "
    + compare.setup_budget(in_setup)
)

percent_axis = st.checkbox(
    "Error and accuracy on a fixed 0–100% axis",
    key=keys.CMP_PERCENT,
    bind=BIND,
    help="The same scale on every chart and every setup, so that a class compares them at a "
    "glance; off, each chart zooms to its own data. Losses keep their own scale.",
)

# ------------------------------------------------------------------------------- error vs depth
st.subheader("Final error vs depth")
depth_table = compare.depth_table(in_setup)
not_comparable = compare.comparability_note(in_setup)
paper = compare.paper_table() if not_comparable is None else None
common.plotly_chart(
    figures.depth_error_figure(depth_table, paper, dataset_title, percent_axis=percent_axis), width="stretch"
)
if depth_table["depth"].nunique() < 2:
    st.caption("Only one depth so far: train the same networks at more depths (e.g. 20, 32, 44, 56) to draw lines.")
for sentence in lesson.depth_story(depth_table):
    st.markdown("- " + sentence)
if paper is not None:
    st.caption(compare.table6_caption(in_setup), help=PAPER_SOURCE)
else:
    st.info(not_comparable, icon=":material/info:")

shown = depth_table[["model", "shortcut", "depth", "seeds"]].assign(
    **{
        "training error (%)": [
            mean_std(m, s) for m, s in zip(depth_table.train_error_mean, depth_table.train_error_std)
        ],
        "test error (%)": [mean_std(m, s) for m, s in zip(depth_table.test_error_mean, depth_table.test_error_std)],
        "flag": depth_table["flag"].fillna(""),
    }
)
if paper is not None and depth_table.paper_test_error.notna().any():
    shown["paper test error (%)"] = [mean_std(v, float("nan")) for v in depth_table.paper_test_error]
st.dataframe(shown, hide_index=True, width="stretch")
csv_download("Download this table (CSV)", compare.depth_csv(depth_table), "error_vs_depth.csv", "download_depth")

# ------------------------------------------------------------------------ curves over seeds
st.subheader("Learning curves, mean ± std over seeds")
by_key = {g.key: g for g in in_setup}
names = {g.key: f"{g.label} ({len(g.records)} seed{'s' * (len(g.records) != 1)})" for g in in_setup}
asked = common.link_values(keys.CMP_NETS)
# A choice made in another setup keeps the networks this setup has too (else the default pair): compare.keep_selection.
kept = compare.keep_selection(st.session_state.get(keys.CMP_NETS), groups, setup)[:6]
if keys.CMP_NETS in st.session_state:
    st.session_state[keys.CMP_NETS] = kept
chosen = st.multiselect(
    "Networks",
    list(by_key),
    default=None if keys.CMP_NETS in st.session_state else kept,
    format_func=names.get,
    max_selections=6,
    key=keys.CMP_NETS,
    bind=BIND,
    help=f"{STUDY_001.capitalize()} compared option A with option B this way, each curve the mean "
    f"of 5 seeds. {STUDY_001.capitalize()}: {TERMS[STUDY_001]} Option A/B: {TERMS['option A/B']}",
)
common.note_ignored(asked, names.values(), "networks of this setup")
metric = st.radio(
    "Quantity",
    list(compare.METRICS),
    format_func=lambda m: compare.METRICS[m][0],
    horizontal=True,
    key=keys.CMP_METRIC,
    bind=BIND,
)
if not any(g.config.shortcut == "B" for g in in_setup):
    st.caption(
        f"To compare shortcut options A and B as {STUDY_001} did, train a ResNet with option B at a depth "
        "you already have, with the same setup.",
        help=TERMS["option A/B"],
    )
if not chosen:
    st.info("Choose at least one network above.")
    st.stop()
curves = {names[k]: compare.seed_curves(store, by_key[k], metric) for k in chosen}
series = [figures.run_series(names[k], by_key[k].config, curves[names[k]]) for k in chosen]
common.plotly_chart(
    figures.seed_band_figure(
        series, compare.METRICS[metric][0], percent_axis=percent_axis and bool(compare.METRICS[metric][2])
    ),
    width="stretch",
)

residuals = compare.pairwise_residuals(curves)
if len(residuals) == 1:
    row = residuals.iloc[0]
    unit = "%²" if compare.METRICS[metric][2] else "nats²"
    noise = compare.noise_ssr(*curves.values())
    c1, c2 = st.columns(2)
    c1.metric(
        f"Sum of squared residuals (SSR), {row.model_a} vs {row.model_b}",
        f"{row.ssr:.4g} {unit}",
        help=f"{TERMS['SSR']} Here Σ over {row.epochs} epochs of (difference between the two mean curves)²; "
        f"{STUDY_001} compared options A and B this way.",
    )
    c2.metric(
        "…expected from seed noise alone",
        "–" if noise is None else f"{noise[0]:.4g} {unit}",
        help="What two mean curves of these seed counts would differ by if the networks were the same: per epoch "
        "the seeds' pooled variance × (1/n₁ + 1/n₂), summed over the epochs.",
    )
    test = compare.permutation_test(*(compare.seed_table(store, by_key[k], metric) for k in chosen))
    st.caption(lesson.ssr_sentence(row.model_a, row.model_b, row.ssr, noise, test))
    pair_shortcuts = {by_key[k].config.shortcut for k in chosen}
    if pair_shortcuts == {"A", "B"}:
        st.caption(
            f"The paper's own comparison of the options ({TABLE3_SOURCE}): A "
            f"{TABLE3_TOP1['A']}%, B {TABLE3_TOP1['B']}%, C {TABLE3_TOP1['C']}% — small differences; it calls "
            'projections "not essential" for addressing degradation.'
        )
elif len(residuals) > 1:
    st.markdown(
        "**Sum of squared residuals (SSR) between the mean curves**: for each pair, the difference between "
        "the two mean curves at every epoch both have, squared and added up. 0 means identical curves; the "
        "larger, the further apart."
    )
    st.dataframe(residuals, hide_index=True, column_config={"ssr": st.column_config.NumberColumn("SSR", format="%.4g")})
else:
    st.caption("Choose two or more networks to see the sum of squared residuals between their mean curves.")
csv_download(
    "Download these curves (CSV)", compare.curves_csv(curves, metric), f"curves_{metric}.csv", "download_curves"
)

# --------------------------------------------------------------------- per-epoch accuracy table
st.subheader("Test accuracy per epoch (%)")
st.caption(
    f"Like {STUDY_004}'s table: one row per epoch, one column per network (mean over seeds).", help=TERMS[STUDY_004]
)
accuracy = compare.per_epoch_table({names[k]: compare.seed_curves(store, by_key[k], "test_acc") for k in chosen})
st.dataframe(
    accuracy, width="stretch", column_config={c: st.column_config.NumberColumn(format="%.2f") for c in accuracy.columns}
)
csv_download(
    "Download this table (CSV)", compare.per_epoch_csv(accuracy), "test_accuracy_per_epoch.csv", "download_epochs"
)

# ------------------------------------------------------------------------------------ per class
confusion_panel.show(
    store,
    [min(by_key[k].records, key=lambda r: r.config.seed) for k in chosen],
    key="cmp_confusion",
    note="One run of each network (its lowest seed), of the first two networks chosen above that kept weights.",
)
