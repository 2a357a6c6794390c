"""Runs: every stored run, filtered by data set, family, depth, recipe and tag. With the teacher passphrase:
rename, tag and delete runs, and move a lesson's runs to another machine as one file (``core.runs.archive``)."""

import streamlit as st

from core.runs import archive, catalog, jobs, lifecycle
from core.runs.store import StoreError
from dashboard import common, keys
from dashboard.common import BIND

FACETS = (  # the filters: RunFilter field (and catalog.facets key), label, widget key, what they offer, widget options
    ("datasets", "Data set", keys.RUNS_DATASET, "data sets of stored runs", dict(format_func=catalog.dataset_title)),
    (
        "families",
        "Family",
        keys.RUNS_FAMILY,
        "families of stored runs",
        dict(
            help="plain: no shortcuts; ResNet A: identity shortcuts, zero-padded where the width grows; "
            "ResNet B: 1×1 projections where it grows (He et al. 2015, §3.3)"
        ),
    ),
    ("depths", "Depth", keys.RUNS_DEPTH, "depths of stored runs", {}),
    ("recipes", "Recipe", keys.RUNS_RECIPE, "recipes of stored runs", dict(format_func=catalog.recipe_name)),
    (
        "tags",
        "Tag",
        keys.RUNS_TAG,
        "tags of stored runs",
        dict(help="Tags a teacher gave runs (any of the chosen ones matches)"),
    ),
)


def facet(container, values: list, label: str, key: str, what: str, **kwargs) -> list:
    """One filter: a multiselect over ``values`` (those the stored runs have, from ``catalog.facets``), bound to
    the URL; a link's value that no stored run has is left out with a note."""
    asked = common.link_values(key)
    chosen = container.multiselect(label, values, key=key, bind=BIND, placeholder="any", **kwargs)
    common.note_ignored(asked, map(kwargs.get("format_func", str), values), what, container)
    return chosen


def done(kind: str, text: str) -> None:
    """Show ``text`` once after the page reruns with the store's new contents."""
    st.session_state[keys.RUNS_NOTE] = (kind, text)
    st.rerun()


st.title("Runs")
store = common.get_store()
records = common.stored_runs(store)
common.damage_note(store)

# -- filters (in the URL: a link opens the same selection) -------------------------------------------------
options = catalog.facets(records)
cols = st.columns([1, 1.6, 1, 1.3, 1])  # family names and recipe names are the longest
chosen = catalog.RunFilter(
    **{
        name: facet(column, options[name], label, key, what, **widget)
        for column, (name, label, key, what, widget) in zip(cols, FACETS)
    }
)
shown = chosen.apply(records)

note = st.session_state.pop(keys.RUNS_NOTE, None)
if note:
    (st.success if note[0] == "ok" else st.error)(note[1])

if not records:  # a teacher may still import a lesson below
    st.info("No runs are stored yet. The Train page trains one in the background.", icon=":material/info:")
else:
    st.caption(f"{len(shown)} of {len(records)} stored runs match ({chosen.text()}). ★ marks a shipped reference run.")
if shown:
    st.dataframe(
        [catalog.table_row(r) for r in shown],
        hide_index=True,
        width="stretch",
        column_config={
            "test accuracy (%)": st.column_config.NumberColumn(format="%.2f"),
            "training time (s)": st.column_config.NumberColumn(format="%.1f"),
        },
    )

if not common.is_teacher():
    how = (
        "give the teacher passphrase in the sidebar"
        if common.teacher_passphrase()
        else f"start the dashboard with ${common.TEACHER_ENV} set"
    )
    st.caption(f":material/lock: Renaming, tagging, deleting, exporting and importing runs are teacher actions: {how}.")
    st.stop()


# -- one run: name, tags, cancel, delete ---------------------------------------------------------------------
st.subheader("Manage a run")
record = common.pick_run("Run", shown, key=keys.RUNS_PICK, help="Among the runs the filters above show", bind=False)
if record is None:
    st.caption("No run matches the filters.")
else:
    common.show_status(record)
    name = st.text_input(
        "Name shown for it",
        value=record.name,
        key=f"runs_name_{record.run_id}",
        placeholder=record.config.label,
        help="Empty: the name made from its settings",
    )
    tags = st.text_input(
        "Tags (comma-separated)",
        value=", ".join(record.tags),
        key=f"runs_tags_{record.run_id}",
        placeholder="e.g. week-3, fig6",
    )
    save, cancel, delete = st.columns(3)
    if save.button("Save name and tags", key=f"runs_save_{record.run_id}"):
        store.rename(record.run_id, name, tags.split(","))
        done("ok", f"Saved the name and tags of {record.run_id}.")
    if cancel.button(
        "Cancel or stop it", key=f"runs_cancel_{record.run_id}", disabled=not lifecycle.allowed(record.status).cancel
    ):
        jobs.cancel(store, record.run_id)
        done("ok", f"Asked {record.run_id} to stop.")
    what = (
        "a shipped reference run: it comes back on the next server start"
        if record.reference
        else "this cannot be undone"
    )
    if delete.button(
        "Delete it",
        key=f"runs_delete_{record.run_id}",
        disabled=not lifecycle.allowed(record.status).delete,
        help=f"Removes its history and weights ({what}). A queued or training run must be cancelled first.",
    ):
        try:
            store.delete(record.run_id, teacher=True)
        except StoreError as e:
            done("error", str(e))
        done("ok", f"Deleted {record.label} ({record.run_id}).")

# -- a lesson's runs as one file -----------------------------------------------------------------------------
st.subheader("Move a lesson to another machine")
left, right = st.columns(2, gap="large")
with left:
    st.markdown(
        f"**Export** the {len(shown)} run{'s' * (len(shown) != 1)} shown above (finished ones: configs, "
        "histories, probes and weights) as one file."
    )
    title = st.text_input("Title", key=keys.RUNS_EXPORT_TITLE, placeholder="e.g. Week 3: depth")
    votes = st.checkbox(
        "With the class's votes",
        key=keys.RUNS_EXPORT_VOTES,
        help="The class questions (Predict, then reveal) always travel with the file; their votes only if ticked.",
    )
    selection = (tuple(r.run_id for r in shown), title, votes)  # a file prepared for another selection is not offered
    if st.button("Prepare the lesson file", key=keys.RUNS_EXPORT_PREPARE, disabled=not shown):
        try:
            data, result = archive.export_lesson_bytes(store, shown, title=title, filters=chosen.to_dict(), votes=votes)
        except StoreError as e:
            st.error(str(e))
        else:
            left_out = f"; {len(result.left_out)} not finished left out" if result.left_out else ""
            st.session_state[keys.RUNS_EXPORT_FILE] = (
                selection,
                archive.lesson_file_name(title),
                data,
                f"{len(result.runs)} run{'s' * (len(result.runs) != 1)}, "
                f"{result.weights} with weights, {result.questions} class questions, "
                f"{result.bytes / 1e6:.1f} MB{left_out}",
            )
    prepared = st.session_state.get(keys.RUNS_EXPORT_FILE)
    if prepared and prepared[0] == selection:
        _, file_name, data, summary = prepared
        st.download_button(
            f"Download {file_name}",
            data,
            file_name=file_name,
            mime="application/zip",
            icon=":material/download:",
            on_click="ignore",
        )
        st.caption(summary)
with right:
    st.markdown(
        "**Import** a lesson file exported here or on another machine. It is checked completely first; "
        "a damaged or foreign file is refused and nothing changes."
    )
    upload = st.file_uploader(
        "Lesson file",
        type=["zip"],
        key=keys.RUNS_IMPORT_UPLOAD,
        max_upload_size=archive.MAX_UPLOAD_MB,
        help="Larger lesson files: `python -m core import-lesson FILE` on the server",
    )
    overwrite = st.checkbox(
        "Replace runs this store already has",
        key=keys.RUNS_IMPORT_OVERWRITE,
        help="Otherwise they are left as they are. A queued or training run is never replaced.",
    )
    if st.button("Import", key=keys.RUNS_IMPORT_BUTTON, disabled=upload is None):
        try:
            result = archive.import_lesson_bytes(
                store, upload.getvalue(), upload.name, overwrite=overwrite, teacher=True
            )
        except StoreError as e:  # ArchiveError too: the file is refused, the store unchanged
            done("error", str(e))
        done("ok", f"{upload.name}: {result.text()}.")
