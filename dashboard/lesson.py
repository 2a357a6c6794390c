"""The sentences the pages say about their data, written from that data (no Streamlit here, so they are tested).

Every number in a sentence is computed from the table or runs passed in; where the data cannot
support a claim, the sentence says so instead of making it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

# Terms the pages use, explained once for a student (help texts and captions read them from here).
STUDY_001 = "student study 001"
STUDY_004 = "student study 004"
TERMS = {
    STUDY_001: "An earlier student study of this paper (Biéchy & Cavalier, Faculté des Sciences d'Orsay) that this lab "
    "grew from: ResNets of 20 to 56 layers with shortcut option A and B beside plain nets of equal depth, "
    "trained on CIFAR-10 with Adam (default settings), batch 32, 10 epochs, no augmentation, PyTorch's "
    "default init; every curve the mean of 5 identically configured models. The recipe called "
    '"Adam (seed study)" here is theirs.',
    STUDY_004: "An earlier student report that trained a sequential (plain) and a residual network in Keras on "
    "CIFAR-10 "
    "for 20 epochs and tabulated the test accuracy after every epoch (at epoch 19: residual 85.69%, "
    "sequential 81.13%).",
    "SSR": "Sum of squared residuals between two curves: at every epoch both have, take the difference between the "
    "two, square it, and add these up. 0 means the curves coincide; the larger it is, the further apart they "
    "are (in the curve's unit, squared).",
    "seed": "The random seed fixes a run's random choices (initial weights, order of the images, augmentation). Runs "
    "that differ only in their seed show how much a result varies by chance.",
    "option A/B": "How a ResNet's shortcut crosses a change of shape (where the feature map halves and the channels "
    "double): option A takes every second pixel and pads the new channels with zeros, adding no "
    "parameters; option B uses a learned 1×1 convolution (a projection). Elsewhere both are the "
    "identity (He et al. 2015, Sec. 3.3).",
    "BN": "Batch normalisation (Ioffe & Szegedy 2015): after each convolution, every channel is normalised to zero "
    "mean "
    "and unit variance (with the batch's statistics while training, running averages at test time), then "
    "scaled and shifted by learned parameters.",
    "init": "Kaiming (He) init, the paper's: weights drawn with variance 2 / fan-in, which keeps a signal's size "
    "through ReLU layers (He et al. 2015, 'Delving deep into rectifiers'). PyTorch's default init draws "
    "them with variance 1 / (3 · fan-in), six times smaller.",
    "concat": "Concatenate + 1×1 merge: instead of adding its input back, a block concatenates it with its output "
    "and a "
    "learned 1×1 convolution maps the doubled channels back to the stage's width. No identity path is left, "
    "so at initialisation it behaves like another plain stack.",
    "layer names": "stem is the first 3×3 convolution (with its BN and ReLU); stageS.blockB is block B (counted from "
    "0) of "
    "stage S, each block two 3×3 convolutions. Stages 1, 2 and 3 work on 32×32, 16×16 and 8×8 maps with 16, "
    "32 and 64 channels.",
    "attribution": "Each method scores the image's pixels by how much they drove one class score. Integrated Gradients "
    "adds up the gradients along a straight path from a plain mean-colour image to this one (Sundararajan "
    "et al. 2017); Saliency is one gradient; Grad-CAM weighs the last stage's feature maps by their "
    "gradients (Selvaraju et al. 2017); Occlusion covers patches and measures the drop.",
    "training setup": "Everything about training except the network: data set, number of images, recipe (optimiser, "
    'learning rate, batch, schedule, augmentation), epochs, BN and init. "SGD (paper\'s settings)" '
    'is He et al.\'s recipe; "Adam (seed study)" is the recipe of ' + STUDY_001 + ".",
}


def fmt(x: float) -> str:
    """A number for a sentence: 3 significant digits, 0 written as 0."""
    return "0" if x == 0 else f"{x:.3g}"


def times(x: float) -> str:
    """A measured ratio for a sentence: '4.51', '658', '1,030' (3 significant digits, never a rounded power of ten)."""
    if not math.isfinite(x):
        return "?"
    return f"{x:,.0f}" if abs(x) >= 1000 else fmt(x)


# ------------------------------------------------------------------------------- Gradients page


def init_findings(summary: pd.DataFrame) -> list[str]:
    """One sentence per kind of network at the deepest depth probed, with its numbers and the regime they name."""
    sentences = []
    deepest = summary[summary["depth"] == summary["depth"].max()]
    for _, row in deepest.iterrows():
        first, last, loss, ratio = row["grad_w_first"], row["grad_w_last"], row["loss"], row["ratio_first_last"]
        what = (
            f"‖∂L/∂W‖ is {fmt(first)} at the first conv and {fmt(last)} at the last (ratio {fmt(ratio)}): "
            f"**{row['regime']}**"
        )
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
        measured = (
            f"here {row['model']} ({row['init']} init) does not vanish: its gradient is {fmt(ratio)}× larger at "
            "the first conv than at the last, i.e. it **explodes** toward the input, as mean-field theory of "
            "BN predicts for deep plain nets (Yang et al. 2019)"
        )
    elif ratio >= 0.1:
        measured = (
            f"here {row['model']}'s first and last conv gradients are within 10× of each other (ratio {fmt(ratio)})"
        )
    else:
        measured = f"here {row['model']}'s gradient shrinks toward the input (ratio {fmt(ratio)})"
    return (
        "**The paper (Sec. 4.1)** finds BN plain nets unlikely to degrade through vanishing gradients: their "
        f'backward signals "exhibit healthy norms". Measured at initialisation, {measured}.'
    )


def degradation_text(summary: pd.DataFrame) -> str:
    """Why deep BN plain nets train worse, as far as the probed networks (core.engine.probes.summarize_init) show it."""
    plain = summary[(summary["shortcut"] == "none") & summary["bn"]]
    plain = plain[plain["init"] == "kaiming"] if (plain["init"] == "kaiming").any() else plain
    resnet = summary[(summary["shortcut"] == "A") & summary["bn"]]
    head = "**So why do deep plain nets with BN train worse?** "
    if plain.empty:
        return head + (
            "Probe a plain net with BN on above (e.g. depth 20 and 56) to see what its gradients do; "
            "the paper's answer is that they do not vanish."
        )
    growth = "‖∂L/∂W‖ at the first conv over the last, " + ", ".join(
        f"{times(r.ratio_first_last)} at {r.depth} layers" for r in plain.sort_values("depth").itertuples()
    )
    if (plain["ratio_first_last"] > 10).any():
        text = (
            "Probably not because their gradients vanish: the paper finds that unlikely with BN (Sec. 4.1), and at "
            f"initialisation a deep BN plain net's gradient even **explodes** toward the input (measured above: "
            f"{growth}), as mean-field theory of batch norm predicts for deep networks without skip connections "
            "(Yang et al. 2019). It is also **shattered**: gradients at nearby inputs are nearly uncorrelated, like "
            "white noise (Balduzzi et al. 2017; measured below). "
        )
    else:
        text = (
            f"At the depths probed here the BN plain nets' gradients do not vanish ({growth}); probe depth 56 or 110 "
            "to see them explode toward the input, as mean-field theory of batch norm predicts (Yang et al. 2019), "
            "and see below how their gradients shatter with depth (Balduzzi et al. 2017). "
        )
    if not resnet.empty:
        worst = max(max(r, 1 / r) for r in resnet["ratio_first_last"] if r > 0)
        text += (
            f"With identity shortcuts the BN ResNets probed stay within {times(worst)}× from end to end and their "
            "gradients stay correlated. "
        )
    return head + text + DEGRADATION_OPEN


DEGRADATION_OPEN = (
    "*Degradation* is the paper's name for the symptom (a deeper plain net ends with a higher training error), not "
    "its cause. Explosion and shattering are measured here only at initialisation, and nothing on this page links "
    "them to the training error. The paper leaves the cause open: it finds vanishing gradients unlikely (Sec. 4.1) "
    'and conjectures that deep plain nets "may have exponentially low convergence rates".'
)


def degradation_intro() -> str:
    """Home's paragraph on the degradation problem, with the paper's own hedges (Sec. 4.1)."""
    return (
        "**The degradation problem.** He et al. (2015) stacked more 3×3 conv layers onto a plain CIFAR-10 "
        "network and its *training* error went **up**: plain-56 ends worse than plain-20 (their Fig. 1 and 6). "
        "That is not overfitting (the training error rises too), and with batch normalisation the paper finds it "
        '"unlikely to be caused by vanishing gradients" (Sec. 4.1): it verifies that the backward gradients '
        '"exhibit healthy norms". At initialisation a deep plain net\'s gradients even grow toward the input (see '
        "*Gradients*). Deeper plain stacks are harder to optimise; why is left open, the paper conjecturing "
        '"exponentially low convergence rates".'
    )


# ------------------------------------------------------------------------------------ Home page


def table6_caption() -> str:
    """The caption of Home's Table 6 chart, its numbers from core.analysis.paper."""
    from core.analysis.paper import REIMPLEMENTATION_TEST_ERROR as REIMPL
    from core.analysis.paper import TABLE6_110_MEAN_STD
    from core.analysis.paper import TABLE6_TEST_ERROR as T6

    mean, std = TABLE6_110_MEAN_STD
    return (
        f"Test error of the paper's CIFAR-10 ResNets (Table 6, 164 epochs, SGD) and of a popular PyTorch "
        f"reimplementation (200 epochs). In the paper, error falls from {T6[20]}% at 20 layers to {T6[110]}% at 110 "
        f"— the best of 5 runs, whose mean is {mean} ± {std}% — and rises to {T6[1202]}% at 1202 layers, which the "
        "paper attributes to overfitting (the two nets' training errors were similar). The reimplementation reports "
        f"{REIMPL[1202]}% at 1202 layers, below its {REIMPL[110]}% at 110: it trains with another protocol (200 "
        "epochs, no model chosen on a validation split, per its README), so the paper's rise at 1202 is the result "
        "of one protocol, not a law of depth. Plain nets are not in Table 6: "
        "the paper shows them only as curves (Fig. 6), where plain-56 trains and tests worse than plain-20."
    )


# ----------------------------------------------------------------------------------- Train page


def store_counts(records) -> str:
    """The stored runs by status, most first ('5 done, 1 failed'), and how many are shipped reference runs."""
    counts = pd.Series([r.status for r in records]).value_counts()
    shipped = sum(r.reference for r in records)
    return ", ".join(f"{n} {status}" for status, n in counts.items()) + (
        f", of which ★ {shipped} are shipped reference runs" if shipped else ""
    )


def run_steps(record) -> int:
    """The optimizer steps a run was set to take: as recorded, else from its config and data set."""
    from core.engine.config import DATASET_SIZES

    if steps := (record.info or {}).get("total_steps"):
        return int(steps)
    c = record.config.resolved()
    return c.total_steps(c.subset or DATASET_SIZES[c.dataset][0])


def longer_run_note(record, stored) -> str:
    """After a run that ended near chance: what the longest-trained stored run of the same network that learned
    reached with its (other) budget, in numbers read from that run, and the paper's length; a sentence."""
    from core.analysis.budget import differences
    from core.analysis.compare import network_of
    from core.analysis.paper import TABLE6_ITERATIONS
    from core.runs.lifecycle import is_done
    from core.runs.verdict import record_verdict

    name, steps = record.config.model_name, run_steps(record)
    longer = [
        r
        for r in stored
        if network_of(r.config) == network_of(record.config)
        and is_done(r)
        and record_verdict(r) is None
        and run_steps(r) > steps
        and (r.metrics or {}).get("test_acc") is not None
    ]
    paper = f"the paper trains for {TABLE6_ITERATIONS:,} steps"
    if not longer:
        return f"No stored {name} trained longer has left chance; {paper}."
    best = max(longer, key=lambda r: (run_steps(r), r.metrics["test_acc"]))
    how = "; ".join(differences([("that run", best.config), ("these", record.config)]))
    return (
        f"The longest-trained {name} stored here that learned took {run_steps(best):,} steps and reached "
        f"{100 * best.metrics['test_acc']:.1f}% test accuracy, with another budget ({how}): showing the paper's "
        f"picture takes longer runs than these ({paper})."
    )


def depth_pair_sentence(records, shortcut: str, shallow: int, deep: int, stored=None) -> str | None:
    """'plain-56 ends at 60.1% training error, plain-20 at 20.3%: ...' for two runs of the chosen ones (which
    share one budget: ``fig6_sentences`` groups them), or None; ``stored`` (default: ``records``) are the runs
    a note on a longer budget may cite."""
    from core.analysis.paper import TABLE6_ITERATIONS
    from core.runs.verdict import record_verdict

    pick = fig6_pick(records, shortcut, (shallow, deep))
    if len(pick) < 2:
        return None
    (e_deep, how), (e_shallow, _) = pick[deep].final_train_error(), pick[shallow].final_train_error()
    if e_deep is None or e_shallow is None:
        return None
    name_deep, name_shallow = pick[deep].config.model_name, pick[shallow].config.model_name
    text = f"{name_deep} ends at {e_deep:.1f}% training error ({how}), {name_shallow} at {e_shallow:.1f}%"
    steps = run_steps(pick[deep])
    flags = [f"{pick[d].config.model_name} {v}" for d in (deep, shallow) if (v := record_verdict(pick[d]))]
    if flags:
        flagged = "; ".join(flags)
        return (
            f"{text}. {flagged[0].upper()}{flagged[1:]}. This pair cannot show how depth acts. These runs took "
            f"{steps:,} steps. " + longer_run_note(pick[deep], records if stored is None else stored)
        )
    same_budget = same_budget_runs(pick[deep], records if stored is None else [*records, *stored])
    if (noise := seed_noise_note(same_budget, shortcut, shallow, deep)) is not None:
        return f"{text}: {noise}."
    if shortcut == "none":
        verdict = (
            "the deeper plain net trains worse: the degradation of the paper's Fig. 6"
            if e_deep > e_shallow
            else "here the deeper plain net does not train worse, unlike the paper's Fig. 6"
        )
    else:
        verdict = (
            "the deeper ResNet trains at least as well: the paper's other half"
            if e_deep <= e_shallow
            else "here the deeper ResNet trains worse, unlike the paper's Fig. 6 (right), where depth helps "
            f"after {TABLE6_ITERATIONS:,} iterations; these runs took {steps:,} steps"
        )
    return f"{text}: {verdict}."


def same_budget_runs(anchor, records) -> list:
    """The runs of ``records`` with ``anchor``'s budget, each once: every seed stored counts toward seed noise, not
    only the ones on the chart."""
    from core.analysis.budget import setup_key

    key = setup_key(anchor.config)
    return list({r.run_id: r for r in records if setup_key(r.config) == key}.values())


def seed_noise_note(records, shortcut: str, shallow: int, deep: int) -> str | None:
    """Why a gap between the two nets is not called a difference (core.analysis.fig6: one seed per network, or a
    gap within what seed noise gives), else None; ``records`` share one budget, and the seed noise is pooled over
    every network of it with several seeds, as the README's table and the tests have it."""
    from core.analysis import fig6

    family = "plain" if shortcut == "none" else "resnet"
    try:
        half = fig6.halves(records, shallow, deep).get(family)
    except ValueError:  # several budgets: fig6_sentences never asks this across budgets
        return None
    if half is None or half.margin is None:
        return (
            "with one seed per network, seed noise is unknown, so this gap is not called a difference "
            "(train a second seed of each)"
        )
    if not half.beyond_noise:
        return (
            f"over the seeds the gap is {half.gap:+.1f} points, within the {half.margin:.1f} that seed noise could "
            "give: these runs cannot tell the two apart"
        )
    return None


def fig6_pick(records, shortcut: str, depths) -> dict:
    """The finished CIFAR-style run of each of ``depths`` in the family of ``shortcut`` (seed 0 first)."""
    from core.runs.lifecycle import is_done

    return {
        r.config.depth: r
        for r in sorted(records, key=lambda r: -r.config.seed)  # seed 0 wins
        if r.config.shortcut == shortcut and r.config.arch == "cifar" and r.config.depth in depths and is_done(r)
    }


FIG6_PAIRS = [("none", 20, d) for d in (32, 44, 56)] + [("A", 20, d) for d in (32, 44, 56, 110)]
FIG6_QUESTION = {
    "none": "how depth acts on plain nets (the paper's Fig. 6, left)",
    "A": "how depth acts on ResNets (the paper's Fig. 6, right)",
}


def by_budget(records) -> list[list]:
    """The runs grouped by budget (core.analysis.budget.setup_key), in the order each budget first appears."""
    from core.analysis.budget import setup_key

    groups: dict[str, list] = {}
    for r in records:
        groups.setdefault(setup_key(r.config), []).append(r)
    return list(groups.values())


def budget_titles(groups: list[list]) -> list[str]:
    """Each group's budget in the words that tell it from the others' (the parts of core.analysis.budget.Budget
    that differ between the groups): '1,000 training images, 500 test images; 496 steps (8 epochs of 62)'."""
    from core.analysis.budget import Budget, budget

    budgets = [budget(g[0].config) for g in groups]
    parts = [p for p in Budget.PARTS if len({getattr(b, p) for b in budgets}) > 1]
    return ["; ".join(getattr(b, p) for p in parts) for b in budgets]


def fig6_sentences(records, stored=None) -> list[str]:
    """What the chosen runs show of the paper's Fig. 6, both halves, each from its own numbers and only ever
    from runs of one budget: with several budgets, each sentence names its budget, and a pair found only
    across budgets gets a sentence saying the runs were trained differently, so the chart cannot show it."""
    from core.analysis.budget import differences

    groups = by_budget(records)
    titles = dict(zip(map(id, groups), budget_titles(groups)))
    sentences = []
    for shortcut, shallow, deep in FIG6_PAIRS:
        within = [(g, s) for g in groups if (s := depth_pair_sentence(g, shortcut, shallow, deep, stored))]
        for group, sentence in within:
            sentences.append(f"In the runs with {titles[id(group)]}: {sentence}" if len(groups) > 1 else sentence)
        pick = fig6_pick(records, shortcut, (shallow, deep))
        if within or len(pick) < 2:
            continue
        named = [(pick[d].config.model_name, pick[d].config) for d in (shallow, deep)]
        sentences.append(
            f"{named[1][0]} and {named[0][0]} shown here were trained differently ({'; '.join(differences(named))}), "
            f"so the chart cannot show {FIG6_QUESTION[shortcut]}: add runs of one budget, or train the missing one."
        )
    return sentences


# ----------------------------------------------------------------------- which runs a page opens on


def preference(record) -> tuple:
    """Sort key: shipped runs first, then runs that learned, then higher test accuracy, seed 0 first."""
    from core.runs.verdict import record_verdict

    acc = (record.metrics or {}).get("test_acc")
    return (
        not record.reference,
        record_verdict(record) is not None,
        -(acc if acc is not None else -1),
        record.config.seed,
    )


def default_pair(records: list) -> tuple[str | None, str | None]:
    """A plain run and the ResNet most like it (one budget, then the same depth and seed; option A first),
    preferring shipped runs and runs that learned over the newest, and the deepest such plain net (on CIFAR-10
    where there is one: the paper's data)."""
    from core.analysis.budget import setup_key

    plain = sorted(
        (r for r in records if r.config.shortcut == "none" and r.config.arch == "cifar"),
        key=lambda r: (preference(r)[:2], -r.config.depth, r.config.dataset != "cifar10", preference(r)[2:]),
    )
    resnets = sorted(
        (r for r in records if r.config.shortcut in ("A", "B") and r.config.arch == "cifar"), key=preference
    )
    left = plain[0] if plain else (sorted(records, key=preference)[0] if records else None)
    if left is None:
        return None, None

    def likeness(r):  # one budget first (core.analysis.budget), then the same depth and seed
        same = (
            setup_key(r.config) == setup_key(left.config),
            r.config.depth == left.config.depth,
            r.config.seed == left.config.seed,
        )
        return (tuple(not x for x in same), r.config.shortcut != "A", preference(r))

    right = (sorted(resnets, key=likeness) or [r for r in records if r.run_id != left.run_id] or [left])[0]
    return left.run_id, right.run_id


def pair_budget_note(a, b) -> str | None:
    """A warning when two runs set side by side were trained with different budgets, saying what differed
    (core.analysis.budget.differences); None when they share one."""
    from core.analysis.budget import differences

    names = (a.config.model_name, b.config.model_name)
    if names[0] == names[1]:
        names = (f"{names[0]} (left)", f"{names[1]} (right)")
    diff = differences(list(zip(names, (a.config, b.config))))
    if not diff:
        return None
    return (
        "These two runs were trained differently (not with one budget), so what differs between them may come "
        "from the training, not from the shortcuts: " + " — ".join(diff) + "."
    )


def runs_budget_note(records) -> str | None:
    """core.analysis.budget.mixed_budget_note for runs shown together (None when they share one budget)."""
    from core.analysis.budget import mixed_budget_note

    return mixed_budget_note([(r.config.model_name, r.config) for r in records])


def step_to_show(steps: list[int], chosen: int | None, pair: tuple[str, ...], seen_pair: tuple[str, ...] | None) -> int:
    """The probed training step the Gradients profile shows: the last one when the pair of runs changed since
    the last view (``seen_pair``) or none was chosen; else the chosen step, or the nearest probed one."""
    if chosen is None or (seen_pair is not None and tuple(pair) != tuple(seen_pair)):
        return steps[-1]
    return min(steps, key=lambda s: (abs(s - chosen), s))


def nearest_step(steps: np.ndarray, step: int) -> int:
    """The probed step closest to ``step`` (a run's probes need not fall on the step chosen for the pair)."""
    return int(steps[np.abs(steps - step).argmin()])


def first_last_sentence(label: str, frame: pd.DataFrame, what: str) -> str:
    """'**label**: ‖∂L/∂W‖ is 0.1 at the first conv and 0.01 at the last (ratio 10).' from one probe profile
    (a row per layer: ``idx``, ``layer``, ``value``; the classifier ``fc`` is left out); '' without convs."""
    convs = frame[frame["layer"] != "fc"].sort_values("idx")
    if convs.empty:
        return ""
    first, last = convs["value"].iloc[0], convs["value"].iloc[-1]
    ratio = first / last if last else float("nan")
    return f"**{label}**: {what} is {fmt(first)} at the first conv and {fmt(last)} at the last (ratio {fmt(ratio)})."


def runs_to_show(
    chosen: list[str] | None, pair: tuple[str, ...], seen_pair: tuple[str, ...] | None, available: list[str]
) -> list[str]:
    """The runs of the Fig. 7 chart (run ids among ``available``): the during-training pair on a first view and
    whenever the pair changed, else the runs chosen. If neither run of a new pair is available (no finished
    epoch yet), the chosen runs stay, else the first available run."""
    usable = [i for i in chosen or () if i in available]
    if chosen is None or (seen_pair is not None and tuple(pair) != tuple(seen_pair)):
        return [i for i in dict.fromkeys(pair) if i in available] or usable or available[:1]
    return usable


# ---------------------------------------------------------------------------------- Compare page


def _trend(rows: pd.DataFrame, column: str) -> str | None:
    """'from 20.1% (20 layers) to 35.2% (56 layers), rising with depth' for a family's rows, or None."""
    rows = rows.dropna(subset=[column]).sort_values("depth")
    if len(rows) < 2:
        return None
    values = rows[column].to_numpy()
    steps = [b - a for a, b in zip(values, values[1:])]
    shape = (
        "rising at every step in depth"
        if all(d > 0 for d in steps)
        else "falling or level at every step in depth"
        if all(d <= 0 for d in steps)
        else "not monotonic in depth"
    )
    points = ", ".join(f"{v:.1f}% at {d}" for d, v in zip(rows["depth"], values))
    return f"{points} layers: {shape}"


def depth_story(table: pd.DataFrame) -> list[str]:
    """What the error-vs-depth table of one setup shows, family by family, beside what the paper found.

    ``table`` is core.analysis.compare.depth_table's (errors in %, training error as recorded, flag per group)
    for one budget: a near-chance note and a trend compare only runs trained alike.
    """
    from core.analysis.paper import TABLE6_ITERATIONS

    sentences = []
    for shortcut, name, paper in (
        ("none", "Plain nets", "in the paper (Fig. 6, left) their training error rises with depth"),
        ("A", "ResNets (A)", "in the paper (Fig. 6, middle; Table 6) it falls with depth up to 110 layers"),
    ):
        rows = table[(table["shortcut"] == shortcut) & table["bn"] & (table["arch"] == "cifar")]
        trend = _trend(rows, "train_error_mean")
        if trend is None:
            continue
        flagged = rows[rows["flag"].notna()]["model"].tolist() if "flag" in rows else []
        text = f"**{name}**, final training error: {trend}; {paper}."
        expected = "rising at every step" if shortcut == "none" else "falling or level at every step"
        if expected not in trend and not flagged:
            text += (
                " This setup does not show the paper's shape; the paper's runs are "
                f"{TABLE6_ITERATIONS:,} iterations long, with a budget of their own."
            )
        if flagged:
            text += f" Near chance, so not evidence about depth: {', '.join(flagged)}."
        sentences.append(text)
    return sentences


def ssr_sentence(a: str, b: str, ssr: float, noise: tuple[float, int] | None, test: dict | None = None) -> str:
    """How the SSR between two mean curves compares with seed noise: its size against the noise's expected SSR,
    and whether it is a difference at all, from a permutation test over the seeds
    (core.analysis.compare.permutation_test); without one no difference is called."""
    from core.analysis.compare import ALPHA, seeds_needed

    if noise is None or test is None:
        return (
            f"No noise baseline: {a} and {b} need at least two seeds each to tell a real difference from the "
            "spread between seeds. Train more seeds of each."
        )
    expected, epochs = noise
    ratio = ssr / expected if expected > 0 else float("inf")
    size = (
        f"The SSR is {ratio:.1f}× the {expected:.4g} that seed noise alone would give on average over {epochs} epochs"
    )
    n_a, n_b = test["n_a"], test["n_b"]
    how = (
        f"a permutation test over the {n_a + n_b} seeds ({'all' if test['exact'] else 'a sample of'} "
        f"{test['splits']:,} ways to split them into groups of {n_a} and {n_b}) gives p = {test['p']:.2g}"
    )
    if test["p"] <= ALPHA:
        verdict = f"a difference beyond seed noise at the {ALPHA:.0%} level: the two networks learn differently here"
    elif test["smallest_p"] > ALPHA:
        verdict = (
            f"these runs cannot tell the two apart (with {n_a} and {n_b} seeds no split can give p "
            f"below {test['smallest_p']:.2g}, so no difference can be shown at the {ALPHA:.0%} level); "
            f"train at least {seeds_needed()} seeds of each"
        )
    else:
        verdict = f"these runs cannot tell the two apart at the {ALPHA:.0%} level"
    return f"{size}. {how[0].upper()}{how[1:]}: {verdict}."


def default_models(records) -> list[str]:
    """Classify's first models: a plain net and a ResNet of equal depth trained the same way, preferring
    shipped runs, then CIFAR-10 (photos a student can upload) and runs that learned (never a chance-level
    one when another exists); else the best run."""
    from core.analysis.compare import setup_key
    from core.runs.verdict import record_verdict

    ranked = sorted(records, key=preference)
    for learned_only in (True, False):  # a pair that learned if there is one; else any pair (its flag is shown)
        resnets = [
            r
            for r in ranked
            if r.config.shortcut == "A" and r.config.arch == "cifar" and (record_verdict(r) is None or not learned_only)
        ]
        for res in sorted(
            resnets, key=lambda r: (preference(r)[0], r.config.dataset != "cifar10", preference(r)[1], -r.config.depth)
        ):
            for other in ranked:
                c = other.config
                if (
                    c.shortcut == "none"
                    and c.depth == res.config.depth
                    and setup_key(c) == setup_key(res.config)
                    and c.seed == res.config.seed
                    and (record_verdict(other) is None or not learned_only)
                ):
                    return [other.run_id, res.run_id]
    return [ranked[0].run_id] if ranked else []


def short_names(records) -> dict[str, str]:
    """Model names by run id for tables and legends, made unique with the run id where two would collide."""
    names = {r.run_id: r.config.model_name for r in records}
    counts = pd.Series(list(names.values())).value_counts()
    return {i: n if counts[n] == 1 else f"{n} [{i[:6]}]" for i, n in names.items()}


def test_accuracy_line(record, test_images: int | None = None) -> str:
    """What a stored run says about its own test accuracy, for the Classify page: the accuracy after its last
    epoch, on how many of the data set's ``test_images`` test images; or that none is stored."""
    acc = (record.metrics or {}).get("test_acc")
    if acc is None or acc != acc:  # NaN != NaN
        return "No test accuracy is stored for this run."
    title = record.info.get("dataset") or record.config.dataset
    n = record.info.get("n_test")
    if not n:
        where = f"{title} test images (how many was not recorded)"
    elif test_images and n < test_images:
        where = f"{n:,} of the {test_images:,} {title} test images"
    else:
        where = f"all {n:,} {title} test images"
    epochs = record.epochs_done or record.config.epochs
    return (
        f"Test accuracy **{100 * acc:.1f}%** on {where}, measured after its last epoch (epoch {epochs}) and stored "
        "with the run."
    )
