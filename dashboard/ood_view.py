"""What the Classify page says about whether an image is unlike a model's training data, decided on data alone
(no Streamlit here, so every case is tested without a browser). The words are ``core.analysis.ood``'s, the same
that ``python -m core classify`` prints."""

from __future__ import annotations

from dataclasses import dataclass

from core.analysis.ood import Verdict

# How each verdict is shown: a flagged image warns, a check the model cannot trust informs, the rest is a caption.
LEVEL_STYLE = {"flagged": "warning", "cannot_vouch": "info", "not_flagged": "caption"}


@dataclass(frozen=True)
class OodNote:
    style: str  # warning | info | caption | offer (ask a worker to fit the detector)
    text: str


def ood_note(verdict: Verdict | None, model_name: str, dataset_title: str, *, data_here: bool) -> OodNote:
    """The line under a model in "What each model knows": its verdict on the image, or why there is none yet."""
    if verdict is not None:
        return OodNote(LEVEL_STYLE[verdict.level], verdict.sentence(model_name, dataset_title))
    if not data_here:
        return OodNote(
            "caption",
            f"{dataset_title} is not on this machine, so whether this image is like {model_name}'s training data "
            "cannot be measured here.",
        )
    return OodNote(
        "offer",
        f"Whether this image is like {model_name}'s training data is not measured yet: a worker compares its "
        f"training images with 2,000 held-out test images once (about a minute), then every image is judged at once.",
    )
