"""The sentences the pages say about their data, written from that data (no Streamlit here, so they are tested).

Every number in a sentence is computed from the table or runs passed in; where the data cannot
support a claim, the sentence says so instead of making it.
"""
from __future__ import annotations

import math

import pandas as pd


def fmt(x: float) -> str:
    """A number for a sentence: 3 significant digits, 0 written as 0."""
    return "0" if x == 0 else f"{x:.3g}"


def power_of_ten(x: float) -> str:
    """'10³' for 1030: the order of magnitude of a positive number, in superscript."""
    digits = str(round(math.log10(x))) if x > 0 and math.isfinite(x) else "?"
    return "10" + digits.translate(str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹"))


# ------------------------------------------------------------------------------- Gradients page

def init_findings(summary: pd.DataFrame) -> list[str]:
    """One sentence per kind of network at the deepest depth probed, with its numbers and the regime they name."""
    sentences = []
    deepest = summary[summary["depth"] == summary["depth"].max()]
    for _, row in deepest.iterrows():
        first, last, loss, ratio = row["grad_w_first"], row["grad_w_last"], row["loss"], row["ratio_first_last"]
        what = (f"‖∂L/∂W‖ is {fmt(first)} at the first conv and {fmt(last)} at the last (ratio {fmt(ratio)}): "
                f"**{row['regime']}**")
        if loss > 10:  # the forward signal already grows with depth
            what += f"; the initial loss is {fmt(loss)}, far above the ln 10 ≈ 2.3 of an unbiased guess"
        sentences.append(f"**{row['model']}**, {row['init']} init: {what}.")
    return sentences


def bn_plain_verdict(summary: pd.DataFrame) -> str | None:
    """The paper's 'healthy norms' for BN plain nets beside what the deepest one probed here measures."""
    bn_plain = summary[(summary["shortcut"] == "none") & summary["bn"]]
    if bn_plain.empty:
        return None
    deepest = bn_plain[bn_plain["depth"] == bn_plain["depth"].max()]
    row = (deepest[deepest["init"] == "kaiming"] if (deepest["init"] == "kaiming").any() else deepest).iloc[0]
    ratio = row["ratio_first_last"]
    if ratio > 10:
        measured = (f"here {row['model']} ({row['init']} init) does not vanish: its gradient is {fmt(ratio)}× larger at "
                    "the first conv than at the last, i.e. it **explodes** toward the input, as mean-field theory of "
                    "BN predicts for deep plain nets (Yang et al. 2019)")
    elif ratio >= 0.1:
        measured = f"here {row['model']}'s first and last conv gradients are within 10× of each other (ratio {fmt(ratio)})"
    else:
        measured = f"here {row['model']}'s gradient shrinks toward the input (ratio {fmt(ratio)})"
    return ("**The paper (Sec. 4.1)** finds BN plain nets unlikely to degrade through vanishing gradients: their "
            f"backward signals \"exhibit healthy norms\". Measured at initialisation, {measured}.")


def degradation_text(summary: pd.DataFrame) -> str:
    """Why deep BN plain nets train worse, as far as the probed networks (core.probes.summarize_init) show it."""
    plain = summary[(summary["shortcut"] == "none") & summary["bn"]]
    plain = plain[plain["init"] == "kaiming"] if (plain["init"] == "kaiming").any() else plain
    resnet = summary[(summary["shortcut"] == "A") & summary["bn"]]
    head = "**So why do deep plain nets with BN train worse?** "
    if plain.empty:
        return head + ("Probe a plain net with BN on above (e.g. depth 20 and 56) to see what its gradients do; "
                       "the paper's answer is that they do not vanish.")
    growth = "; ".join(f"{power_of_ten(r.ratio_first_last)}× from last to first conv at {r.depth} layers"
                       for r in plain.sort_values("depth").itertuples() if r.ratio_first_last > 0)
    explodes = (plain["ratio_first_last"] > 10).any()
    if explodes:
        text = ("Not because their gradients vanish: with BN they do the opposite. At initialisation a deep BN plain "
                f"net's gradient **explodes** toward the input (measured above: {growth}), as mean-field theory of batch "
                "norm predicts for deep networks without skip connections (Yang et al. 2019), and it is **shattered**: "
                "gradients at nearby inputs are nearly uncorrelated, like white noise (Balduzzi et al. 2017; measured "
                "below). A step along such a gradient is too large for the first layers and poorly aimed. ")
    else:
        text = (f"At the depths probed here the BN plain nets' gradients do not vanish ({growth}); probe depth 56 or 110 "
                "to see them explode toward the input, as mean-field theory of batch norm predicts (Yang et al. 2019). ")
    if not resnet.empty:
        worst = max(max(r, 1 / r) for r in resnet["ratio_first_last"] if r > 0)
        text += (f"Identity shortcuts keep this in check: the BN ResNets probed stay within {fmt(worst)}× from end to end "
                 "and their gradients stay correlated. ")
    return head + text + ("*Degradation* is the paper's name for the symptom (a deeper plain net ends with a higher "
                          "training error), not its cause; explosion and shattering are the mechanisms measured here.")


# ------------------------------------------------------------------------------------ Home page

def table6_caption() -> str:
    """The caption of Home's Table 6 chart, its numbers from core.paper."""
    from core.paper import REIMPLEMENTATION_TEST_ERROR as REIMPL
    from core.paper import TABLE6_110_MEAN_STD, TABLE6_TEST_ERROR as T6
    mean, std = TABLE6_110_MEAN_STD
    return (f"Test error of the paper's CIFAR-10 ResNets (Table 6, 164 epochs, SGD) and of a popular PyTorch "
            f"reimplementation (200 epochs). In the paper, error falls from {T6[20]}% at 20 layers to {T6[110]}% at 110 "
            f"— the best of 5 runs, whose mean is {mean} ± {std}% — and rises to {T6[1202]}% at 1202 layers, which the "
            "paper attributes to overfitting (the two nets' training errors were similar). The reimplementation reports "
            f"{REIMPL[1202]}% at 1202 layers, below its {REIMPL[110]}% at 110: it trains with another protocol (200 "
            "epochs, no model chosen on a validation split, per its README), so the paper's rise at 1202 is the result "
            "of one protocol, not a law of depth. Plain nets are not in Table 6: "
            "the paper shows them only as curves (Fig. 6), where plain-56 trains and tests worse than plain-20.")
