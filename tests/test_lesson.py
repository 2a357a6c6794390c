"""dashboard.lesson: the pages' sentences follow their data."""

import pandas as pd

from dashboard import lesson


def summary(rows):
    from core.engine.probes import gradient_regime

    frame = pd.DataFrame(
        rows, columns=["model", "init", "depth", "shortcut", "bn", "loss", "grad_w_first", "grad_w_last"]
    )
    frame["ratio_first_last"] = frame.grad_w_first / frame.grad_w_last
    frame["regime"] = [gradient_regime(first, last) for first, last in zip(frame.grad_w_first, frame.grad_w_last)]
    return frame


MEASURED = summary(
    [  # the README's probe-init numbers (one batch of 128 Shapes-10 images)
        ("plain-20", "kaiming", 20, "none", True, 2.36, 1.04, 0.264),
        ("plain-56", "kaiming", 56, "none", True, 2.47, 435, 0.661),
        ("ResNet-20 (A)", "kaiming", 20, "A", True, 3.0, 0.755, 0.624),
        ("ResNet-56 (A)", "kaiming", 56, "A", True, 5.96, 2.05, 0.7),
        ("ResNet-56 (A) (no BN)", "kaiming", 56, "A", False, 1.94e4, 1.55e4, 1.07e5),
    ]
)


def test_degradation_text_states_the_measured_ratios_and_leaves_the_cause_open():
    text = lesson.degradation_text(MEASURED)
    # plain-20's 1.04 / 0.264 is 3.94 (a label of "balanced (within 10×)"): stated as measured, never as 10¹.
    assert "‖∂L/∂W‖ at the first conv over the last, 3.94 at 20 layers, 658 at 56 layers" in text
    assert "10¹" not in text and "10³" not in text
    assert "**explodes** toward the input" in text and "Yang et al. 2019" in text and "Balduzzi et al. 2017" in text
    assert "within 2.93× from end to end" in text and "not its cause" in text
    # Both are measured only at initialisation, and the paper leaves the cause open (Sec. 4.1).
    assert "mechanisms measured here" not in text and "only at initialisation" in text
    assert "nothing on this page links them to the training error" in text
    assert "unlikely (Sec. 4.1)" in text and "exponentially low convergence rates" in text


def test_ratios_are_written_as_measured():
    assert [lesson.times(x) for x in (4.5149, 658.2, 1034.6, float("inf"))] == ["4.51", "658", "1,035", "?"]


def test_home_says_unlikely_as_the_paper_does():
    text = lesson.degradation_intro()
    assert '"unlikely to be caused by vanishing gradients" (Sec. 4.1)' in text
    assert "it is not vanishing gradients" not in text and "exponentially low convergence rates" in text


def test_degradation_text_without_deep_plain_nets_does_not_claim_explosion():
    text = lesson.degradation_text(MEASURED[MEASURED.depth == 20])
    assert "**explodes**" not in text and "probe depth 56 or 110" in text
    assert "Probe a plain net" in lesson.degradation_text(MEASURED[MEASURED.shortcut == "A"])


def test_init_findings_name_the_regime_from_the_numbers():
    sentences = lesson.init_findings(MEASURED)
    plain = next(s for s in sentences if s.startswith("**plain-56**"))
    assert "435" in plain and "**exploding toward the input**" in plain
    no_bn = next(s for s in sentences if "no BN" in s)
    assert "ratio 0.145" in no_bn and "**exploding at every layer**" in no_bn and "1.94e+04" in no_bn
    assert lesson.bn_plain_verdict(MEASURED).count("**explodes**") == 1


def test_table6_caption_gives_the_110_mean_and_why_1202_differs():
    text = lesson.table6_caption()
    assert "6.43% at 110 — the best of 5 runs, whose mean is 6.61 ± 0.16%" in text
    assert "7.93% at 1202" in text and "overfitting" in text and "6.18% at 1202 layers, below its 6.32%" in text


def record(shortcut, depth, train_eval_acc, test_acc=None, seed=0, reference=False, status="done", dataset="builtin"):
    from core.engine.config import RunConfig
    from core.runs.store import RunRecord

    config = RunConfig(depth=depth, shortcut=shortcut, recipe="seed", subset=1000, epochs=8, seed=seed, dataset=dataset)
    metrics = {
        "train_acc": train_eval_acc - 0.05,
        "train_eval_acc": train_eval_acc,
        "test_acc": train_eval_acc if test_acc is None else test_acc,
    }
    return RunRecord(
        config.run_id,
        config,
        status,
        metrics=metrics,
        info={"classes": list("abcdefghij"), "n_test": 500},
        reference=reference,
    )


def test_fig6_sentences_follow_the_runs_numbers():
    first = [record("none", 20, 0.80), record("none", 56, 0.40), record("A", 20, 0.85), record("A", 56, 0.90)]
    one_seed = lesson.fig6_sentences(first)
    assert all("seed noise is unknown, so this gap is not called a difference" in s for s in one_seed)
    second = [record("none", 20, 0.81, seed=1), record("none", 56, 0.41, seed=1), record("A", 20, 0.84, seed=1)]
    both = first + second + [record("A", 56, 0.91, seed=1)]
    plain, resnet = lesson.fig6_sentences(both)
    assert plain == (
        "plain-56 ends at 60.0% training error (eval mode), plain-20 at 20.0%: the deeper plain net "
        "trains worse: the degradation of the paper's Fig. 6."
    )
    assert "ResNet-56 (A) ends at 10.0%" in resnet and "at least as well" in resnet
    reversed_half = lesson.fig6_sentences(
        [record("A", 20, 0.85), record("A", 56, 0.70), record("A", 20, 0.86, seed=1), record("A", 56, 0.71, seed=1)]
    )[0]
    assert "trains worse, unlike the paper's Fig. 6 (right)" in reversed_half
    stuck = lesson.fig6_sentences([record("none", 20, 0.80), record("none", 56, 0.11)])[0]
    assert "Plain-56 ended near chance" in stuck and "cannot show how depth acts" in stuck and "64,000" in stuck
    assert lesson.fig6_sentences([record("none", 20, 0.8)]) == []
    close = [record("A", 20, 0.85), record("A", 56, 0.86), record("A", 20, 0.80, seed=1), record("A", 56, 0.83, seed=1)]
    assert "cannot tell the two apart" in lesson.fig6_sentences(close)[0]


def test_depth_story_describes_each_family_from_the_table():
    import numpy as np

    table = pd.DataFrame(
        {
            "model": ["plain-20", "plain-56", "ResNet-20 (A)", "ResNet-56 (A)", "ResNet-110 (A)"],
            "arch": "cifar",
            "shortcut": ["none", "none", "A", "A", "A"],
            "bn": True,
            "depth": [20, 56, 20, 56, 110],
            "train_error_mean": [20.0, 60.0, 15.0, 12.0, 18.0],
            "flag": [None, None, None, None, None],
        }
    )
    plain, resnet = lesson.depth_story(table)
    assert "20.0% at 20, 60.0% at 56 layers: rising at every step in depth" in plain
    assert "not monotonic in depth" in resnet and "falls with depth up to 110 layers" in resnet
    assert "does not show the paper's shape" in resnet and "does not show" not in plain
    table.loc[1, "flag"] = "ended near chance"
    assert "Near chance, so not evidence about depth: plain-56" in lesson.depth_story(table)[0]
    assert lesson.depth_story(table.assign(train_error_mean=np.nan)) == []


def test_ssr_sentence_calls_a_difference_only_when_a_permutation_test_does():
    three = dict(p=0.1, smallest_p=0.1, splits=20, exact=True, n_a=3, n_b=3)
    small = lesson.ssr_sentence("A", "B", 16.8, (8.0, 3), three)  # 2.1× the noise from 3 seeds each
    assert "2.1×" in small and "p = 0.1" in small and "all 20 ways" in small
    assert "cannot tell the two apart" in small and "no split can give p below 0.1" in small
    assert "at least 4 seeds of each" in small and "small one" not in small
    five = dict(p=0.004, smallest_p=0.0079, splits=252, exact=True, n_a=5, n_b=5)
    assert "a difference beyond seed noise at the 5% level" in lesson.ssr_sentence("A", "B", 100.0, (8.0, 3), five)
    assert "12.5×" in lesson.ssr_sentence("A", "B", 100.0, (8.0, 3), five)
    five["p"] = 0.3
    assert "cannot tell the two apart at the 5% level" in lesson.ssr_sentence("A", "B", 100.0, (8.0, 3), five)
    assert "need at least two seeds" in lesson.ssr_sentence("A", "B", 100.0, None, None)


def test_pages_open_on_shipped_runs_that_learned_not_the_newest():
    newest_stuck = record("none", 56, 0.10, seed=5)
    shipped = [
        record("none", 56, 0.45, reference=True),
        record("A", 56, 0.9, reference=True),
        record("none", 20, 0.8, reference=True),
        record("A", 20, 0.85, reference=True),
    ]
    left, right = lesson.default_pair([newest_stuck, *shipped])
    assert (left, right) == (shipped[0].run_id, shipped[1].run_id)
    assert lesson.default_models([newest_stuck, *shipped]) == [shipped[0].run_id, shipped[1].run_id]
    stuck_pair = [record("none", 56, 0.10, reference=True), record("A", 56, 0.9, reference=True), *shipped[2:]]
    assert lesson.default_models(stuck_pair) == [shipped[2].run_id, shipped[3].run_id]  # never a chance-level plain net


def test_classify_opens_on_shipped_cifar10_runs_when_there_are_any():
    shapes = [record("none", 56, 0.9, reference=True), record("A", 56, 0.95, reference=True)]
    cifar = [
        record("none", 20, 0.8, reference=True, dataset="cifar10"),
        record("A", 20, 0.85, reference=True, dataset="cifar10"),
    ]
    own_cifar = [record("none", 56, 0.9, dataset="cifar10", seed=3), record("A", 56, 0.95, dataset="cifar10", seed=3)]
    assert lesson.default_models([*shapes, *cifar, *own_cifar]) == [cifar[0].run_id, cifar[1].run_id]
    assert lesson.default_models([*shapes, *own_cifar]) == [shapes[0].run_id, shapes[1].run_id]  # shipped runs first


def test_the_home_page_counts_the_stored_runs_by_status_and_the_shipped_ones():
    runs = [record("A", 20, 0.8, reference=True), record("A", 32, 0.8), record("A", 44, 0.8, status="failed")]
    assert lesson.store_counts(runs) == "2 done, 1 failed, of which ★ 1 are shipped reference runs"
    assert lesson.store_counts(runs[1:2]) == "1 done"


def test_classify_names_models_uniquely_with_the_run_id_only_where_two_collide():
    a, b, c = record("A", 20, 0.8), record("A", 20, 0.8, seed=1), record("none", 20, 0.8)
    names = lesson.short_names([a, b, c])
    assert names[c.run_id] == "plain-20"
    assert names[a.run_id] == f"ResNet-20 (A) [{a.run_id[:6]}]" and names[b.run_id] == f"ResNet-20 (A) [{b.run_id[:6]}]"


def test_a_probe_profile_is_read_at_its_nearest_step_and_summed_up_first_conv_to_last():
    import numpy as np

    assert lesson.nearest_step(np.array([0, 10, 20, 40]), 28) == 20 and lesson.nearest_step(np.array([5]), 100) == 5
    profile = pd.DataFrame(
        {"idx": [2, 0, 1, 3], "layer": ["conv2", "stem", "conv1", "fc"], "value": [0.01, 1.0, 0.1, 9]}
    )
    assert lesson.first_last_sentence("plain-8", profile, "‖∂L/∂W‖") == (
        "**plain-8**: ‖∂L/∂W‖ is 1 at the first conv and 0.01 at the last (ratio 100)."
    )
    assert lesson.first_last_sentence("x", profile[profile["layer"] == "fc"], "‖∂L/∂W‖") == ""
