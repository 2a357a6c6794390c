import pytest
import torch
import torch.nn.functional as F

from core.engine.models import resnet20
from core.engine.probes import LayerProbe, init_grid, probe_at_init, probe_batch, summarize_init


@pytest.fixture(scope="module")
def batch():
    images, labels, _ = probe_batch("builtin", 64)
    return images, labels


def test_probe_values_equal_plain_autograd(batch):
    images, labels = batch
    torch.manual_seed(0)
    model = resnet20()
    probe = LayerProbe(model)
    outputs = {}

    def keep_output(module, inputs, output):
        output.retain_grad()
        outputs["y"] = output

    hook = model.stage2.block1.conv1.register_forward_hook(keep_output)
    with probe.capture():
        F.cross_entropy(model(images), labels).backward()
    hook.remove()
    r = probe.read()
    assert r["grad_w"]["stage2.block1.conv1"] == pytest.approx(
        model.stage2.block1.conv1.weight.grad.norm().item(), rel=1e-5
    )
    assert r["grad_out"]["stage2.block1.conv1"] == pytest.approx(outputs["y"].grad.norm().item(), rel=1e-5)
    assert r["weight_norm"]["fc"] == pytest.approx(model.fc.weight.norm().item(), rel=1e-5)
    # the response after BN (train mode, weight 1, bias 0) has std close to 1
    assert r["response_std"]["stage1.block0.conv1"] == pytest.approx(1.0, abs=0.05)
    assert "fc" not in r["response_std"] and len(r["grad_w"]) == 20


@pytest.fixture(scope="module")
def init_summary(batch):
    images, labels = batch
    df = probe_at_init(init_grid(depths=(20, 56)), images, labels)
    return summarize_init(df).set_index(["shortcut", "bn", "init", "depth"])


def test_plain_nets_without_bn_and_default_init_have_vanishing_gradients(init_summary):
    for depth in (20, 56):
        row = init_summary.loc[("none", False, "default", depth)]
        assert row.ratio_first_last < 1e-4  # first conv gets almost nothing back


def test_bn_plain_nets_do_not_vanish_their_gradients_grow_toward_the_input(init_summary):
    # The paper (Sec. 4.1): BN plain nets keep healthy backward norms. At init we see more: they grow.
    for init in ("kaiming", "default"):
        shallow = init_summary.loc[("none", True, init, 20)].ratio_first_last
        deep = init_summary.loc[("none", True, init, 56)].ratio_first_last
        assert shallow > 1 and deep > 50 and deep > 10 * shallow


def test_bn_resnets_keep_norms_within_an_order_of_magnitude(init_summary):
    for init in ("kaiming", "default"):
        for depth in (20, 56):
            assert 0.1 < init_summary.loc[("A", True, init, depth)].ratio_first_last < 10


def test_resnets_without_bn_and_kaiming_init_explode_forward(init_summary):
    assert init_summary.loc[("A", False, "kaiming", 56)].loss > 100
    assert init_summary.loc[("A", False, "default", 56)].loss < 5


def test_gradients_of_deep_plain_nets_shatter_and_resnets_do_not(batch):
    from core.engine.probes import shattering_table

    images = batch[0][:2]
    specs = [dict(depth=d, shortcut=s) for s in ("none", "A") for d in (8, 56)]
    t = shattering_table(specs, images, points=64).set_index(["shortcut", "depth"]).correlation
    assert t[("none", 8)] > 0.7 and t[("A", 8)] > 0.7  # shallow: smooth in the input
    assert t[("none", 56)] < 0.2  # deep plain (BN on): close to white noise
    assert t[("A", 56)] > 0.5 and t[("A", 56)] > t[("none", 56)] + 0.4


def test_response_std_note_says_when_bn_scales_have_not_moved_yet():
    import pandas as pd

    from core.engine.probes import response_std_note

    untrained = {"plain-56": pd.Series([1.0, 0.995, 1.004]), "ResNet-56 (A)": pd.Series([0.999, 1.01])}
    note = response_std_note(untrained)
    assert "every run here" in note and "cannot show" in note and "0.995" in note and "1.010" in note
    trained = {"plain-56": pd.Series([1.8, 2.2]), "ResNet-56 (A)": pd.Series([0.6, 0.8])}
    assert response_std_note(trained) == "Mean over the 3×3 layers here: plain-56: 2; ResNet-56 (A): 0.7."
    # one run moved, the other not: the caveat names the one that has not
    mixed = response_std_note({"plain-56": pd.Series([1.8, 2.2]), "ResNet-56 (A)": pd.Series([0.999, 1.01])})
    assert mixed.startswith("Mean over") and "For ResNet-56 (A), every 3×3 layer lies between 0.999 and 1.010" in mixed
    assert "plain-56," not in mixed.split("For ")[1]
    assert response_std_note({"plain-8": pd.Series([], dtype=float)}) == ""


def test_gradient_regime_reads_the_norms_not_only_the_ratio():
    from core.engine.probes import gradient_regime

    assert gradient_regime(1.55e4, 1.07e5) == "exploding at every layer"  # ratio 0.145, yet huge norms
    assert gradient_regime(644, 0.625) == "exploding toward the input"
    assert gradient_regime(4e-9, 3e-3) == "vanishing toward the input"
    assert gradient_regime(0.0, 3e-3) == "vanishing (first conv underflows to 0)"
    assert gradient_regime(0.0058, 0.0051) == "small at every layer"
    assert gradient_regime(23, 215) == "exploding toward the output"
    assert gradient_regime(0.0581, 0.0473) == "balanced (within 10×)"
    assert gradient_regime(1.04, 0.264) == "balanced (within 10×)"


def test_the_regimes_the_gradients_page_names_are_measured(init_summary):
    """The sentences of the Gradients page, pinned: BN plain nets explode toward the input at 56 layers,
    plain nets without BN and with PyTorch's default init vanish, BN ResNets stay balanced, and
    ResNets without BN and with He init explode everywhere although their ratio is below 1."""
    regime = init_summary["regime"]
    for init in ("kaiming", "default"):
        assert regime[("none", True, init, 56)] == "exploding toward the input"
        assert regime[("A", True, init, 56)] == "balanced (within 10×)"
    for depth in (20, 56):
        assert regime[("none", False, "default", depth)].startswith("vanishing")
    no_bn = init_summary.loc[("A", False, "kaiming", 56)]
    assert no_bn.ratio_first_last < 1 and regime[("A", False, "kaiming", 56)] == "exploding at every layer"
