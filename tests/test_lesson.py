"""dashboard.lesson: the pages' sentences follow their data."""
import pandas as pd

from dashboard import lesson


def summary(rows):
    from core.probes import gradient_regime
    frame = pd.DataFrame(rows, columns=["model", "init", "depth", "shortcut", "bn", "loss", "grad_w_first", "grad_w_last"])
    frame["ratio_first_last"] = frame.grad_w_first / frame.grad_w_last
    frame["regime"] = [gradient_regime(f, l) for f, l in zip(frame.grad_w_first, frame.grad_w_last)]
    return frame


MEASURED = summary([  # the README's probe-init numbers (one batch of 128 Shapes-10 images)
    ("plain-20", "kaiming", 20, "none", True, 2.36, 1.04, 0.264),
    ("plain-56", "kaiming", 56, "none", True, 2.47, 435, 0.661),
    ("ResNet-20 (A)", "kaiming", 20, "A", True, 3.0, 0.755, 0.624),
    ("ResNet-56 (A)", "kaiming", 56, "A", True, 5.96, 2.05, 0.7),
    ("ResNet-56 (A) (no BN)", "kaiming", 56, "A", False, 1.94e4, 1.55e4, 1.07e5),
])


def test_degradation_text_says_exploding_with_the_measured_orders_of_magnitude():
    text = lesson.degradation_text(MEASURED)
    assert "**explodes** toward the input" in text and "10³× from last to first conv at 56 layers" in text
    assert "Yang et al. 2019" in text and "Balduzzi et al. 2017" in text and "not its cause" in text
    assert "within 2.93× from end to end" in text
    assert "not through the *size*" not in text.lower()


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
