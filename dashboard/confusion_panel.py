"""Per-class test accuracy and confusion matrices of up to two runs, for the Compare and Classify pages: read
from the cache (computed once per run and weights by a worker, or shipped), asked of a worker when missing,
never computed in the web process. With two runs, the question "which classes does A confuse that B does
not?" is answered from the two matrices (core.analysis.confusion)."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from core.analysis import confusion, inside
from core.runs.store import RunRecord, RunStore, StoreError
from dashboard import common, figures
from dashboard.analysis_panel import analysis_panel


def per_class_series(record: RunRecord, result: confusion.Confusion) -> figures.RunSeries:
    accuracy = confusion.per_class_accuracy(result)
    frame = pd.DataFrame({"class": list(accuracy), "accuracy": list(accuracy.values())})
    return figures.run_series(record.config.model_name, record.config, frame)


def show(store: RunStore, records: list[RunRecord], key: str, note: str = "") -> None:
    """The section for ``records`` (the first two with saved weights); ``note`` says which runs they are."""
    st.subheader("Per-class test accuracy and confusion matrix")
    if note:
        st.caption(note)
    records = [r for r in records if store.weights_path(r.run_id).exists()][:2]
    if not records:
        st.caption("These runs kept no weights, so their predictions per class cannot be measured.")
        return
    results, unreadable = {}, []
    for r in records:
        try:
            results[r.run_id] = inside.cached_confusion(store, r)
        except StoreError as e:  # damaged weights: this run is left out and says why; the other is still shown
            unreadable.append(r)
            st.warning(f"{r.config.model_name}: {e}", icon=":material/broken_image:")
    records = [r for r in records if r not in unreadable]
    missing = [r for r in records if results[r.run_id] is None]
    if missing:
        names = " and ".join(r.config.model_name for r in missing)
        st.markdown(
            f"Not computed yet for {names}. A worker classifies every test image once per run and keeps the result "
            "(so does `python -m core confusion RUN`); every later viewer reads it."
        )
        analysis_panel(store, missing, "confusion", {}, label=f"Compute the confusion matrix of {names}", key=key)
    done = [(r, results[r.run_id]) for r in records if results[r.run_id] is not None]
    if not done:
        return
    common.plotly_chart(
        figures.per_class_figure([per_class_series(r, c) for r, c in done]), width="stretch", key=f"{key}_bars"
    )
    columns = st.columns(len(done))
    for column, (record, result) in zip(columns, done):
        title = f"{record.config.model_name}: {100 * result.accuracy:.1f}% of {result.images:,} test images"
        common.plotly_chart(
            figures.confusion_figure(result.classes, result.matrix, title),
            where=column,
            width="stretch",
            key=f"{key}_matrix_{record.run_id}",
        )
    st.caption(
        "Rows: the true class; columns: what the network predicted; each cell the share of the true class's test "
        "images, so the diagonal is each class's accuracy (the bars above)."
    )
    if len(done) == 2 and done[0][1].classes == done[1][1].classes:
        (ra, a), (rb, b) = done
        plain_first = (a, b) if ra.config.shortcut == "none" or rb.config.shortcut != "none" else (b, a)
        st.markdown(confusion.question_sentence(*plain_first))
