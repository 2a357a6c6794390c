"""Lesion study, loss landscape and feature maps (core.analysis.lesion, .landscape, .features, .inside)."""

import copy
import json
import math
import os

import numpy as np
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F
from conftest import tiny_config

from core.analysis import inside, landscape, lesion
from core.analysis.features import PARTS, inspect, layer_names, maps_sentence, parts_sentence, strongest_channels
from core.engine.models import CifarResNet, build_model


def net(shortcut="A", n=2, seed=0):
    torch.manual_seed(seed)
    return CifarResNet(n, shortcut).eval()


class Skipped(nn.Module):
    """A block replaced by what lesion.skip computes, for a naive full forward pass."""

    def __init__(self, block):
        super().__init__()
        self.block = block

    def forward(self, x):
        return lesion.skip(self.block, x)


def naive_lesioned(model, deleted):
    m = copy.deepcopy(model)
    names = [name for name, _ in lesion.residual_blocks(m)]
    for i in deleted:
        stage, block = names[i].split(".")
        getattr(m, stage)._modules[block] = Skipped(getattr(m, stage)._modules[block])
    return m.eval()


# ------------------------------------------------------------------------------------- lesion


@pytest.mark.parametrize("shortcut", ["A", "B", "none"])
def test_prefix_reuse_gives_the_same_predictions_as_a_full_lesioned_pass(shortcut):
    model = net(shortcut)
    with torch.no_grad():
        model.fc.weight.mul_(100)  # an untrained net predicts nearly one class; make its predictions vary
    x = torch.randn(104, 3, 32, 32)  # more than one chunk
    changed = []
    for deleted in [(0,), (2,), (3, 5), (1, 2, 4)]:  # (2,) and (4,) change the shape
        with torch.no_grad():
            y = naive_lesioned(model, deleted)(x).argmax(1)
        intact, lesioned = lesion.lesion_errors(model, x, y, [(), deleted])
        assert lesioned == 0.0, deleted  # the labels are the naive pass's own predictions
        changed.append(intact)
    assert max(changed) > 0.0  # and deleting blocks changed predictions, so the check above can fail


def test_deleting_a_block_whose_residual_is_zero_changes_nothing():
    model = net("A")
    blocks = lesion.residual_blocks(model)
    for i in (1, 2):  # an identity block and a downsampling one
        block = blocks[i][1]
        nn.init.zeros_(block.bn2.weight)
        nn.init.zeros_(block.bn2.bias)  # F(x) = 0 exactly
    x = torch.randn(40, 3, 32, 32)
    with torch.no_grad():
        y = model(x).argmax(1)
    assert lesion.lesion_errors(model, x, y, [(), (1,), (2,), (1, 2)]) == [0.0, 0.0, 0.0, 0.0]


def test_a_deleted_plain_block_is_the_identity_or_option_a_padding():
    model = net("none", n=1)
    blocks = [b for _, b in lesion.residual_blocks(model)]
    x = torch.rand(2, 16, 32, 32)
    assert torch.equal(lesion.skip(blocks[0], x), x)
    down = lesion.skip(blocks[1], x)
    assert down.shape == (2, 32, 16, 16)
    assert torch.equal(down[:, :16], x[:, :, ::2, ::2]) and not down[:, 16:].any()


def test_the_callers_model_is_left_untouched():
    model = net("A")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    lesion.lesion_errors(model, torch.randn(8, 3, 32, 32), torch.zeros(8, dtype=torch.long), [(), (0,)])
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert model.conv1.weight.is_contiguous()  # not switched to channels_last


def test_networks_that_cannot_be_lesioned_say_why():
    with pytest.raises(lesion.LesionError, match="dense"):
        lesion.residual_blocks(net("concat", n=1))
    with pytest.raises(lesion.LesionError, match="torchvision"):
        lesion.residual_blocks(build_model("torchvision-resnet18"))


def test_a_sweep_costs_about_half_the_passes_of_a_naive_one():
    assert lesion.sweep_passes(27) == 15 and lesion.sweep_passes(1) == 2


def test_random_sets_cover_every_k_with_distinct_sorted_blocks():
    sets = lesion.random_sets(6, draws=3, seed=1)
    assert [len(s) for s in sets] == [k for k in range(1, 7) for _ in range(3)]
    assert all(list(s) == sorted(set(s)) and all(0 <= i < 6 for i in s) for s in sets)
    assert sets == lesion.random_sets(6, draws=3, seed=1) and sets != lesion.random_sets(6, draws=3, seed=2)


def test_lesion_study_reports_every_block_and_the_k_curve():
    model = net("A")
    x, y = torch.randn(50, 3, 32, 32), torch.randint(0, 10, (50,))
    calls = []
    result = lesion.lesion_study(model, x, y, k_images=20, draws=2, progress=lambda d, t: calls.append((d, t)))
    assert [b["name"] for b in result.blocks] == [
        "stage1.block0",
        "stage1.block1",
        "stage2.block0",
        "stage2.block1",
        "stage3.block0",
        "stage3.block1",
    ]
    assert [b["changes_shape"] for b in result.blocks] == [False, False, True, False, True, False]
    assert len(result.k_curve) == 12 and result.k_images == 20 and result.images == 50
    assert calls[-1][0] == calls[-1][1] == 7 * 50 + 12 * 20
    summary = lesion.k_summary(result)
    assert [r["k"] for r in summary] == list(range(7))
    assert all(r["min"] <= r["mean"] <= r["max"] for r in summary)
    assert lesion.LesionResult.from_dict(json.loads(json.dumps(result.to_dict()))) == result


def fake_result(model, intact, errors, shape=None):
    blocks = [
        {"name": f"b{i}", "index": i, "stage": 1, "changes_shape": bool(shape and i in shape), "error": e}
        for i, e in enumerate(errors)
    ]
    n = len(errors)
    k_curve = [
        {"k": k, "draw": d, "blocks": list(range(k)), "error": min(0.9, intact + 0.1 * k + 0.01 * d)}
        for k in range(1, n + 1)
        for d in range(2)
    ]
    return lesion.LesionResult("r", model, "A", "rule", 500, 200, 2, 0, intact, blocks, k_curve)


def test_sentences_quote_the_numbers_of_the_data():
    res = fake_result("ResNet-56 (A)", 0.2, [0.2, 0.3, 0.22, 0.24])
    plain = fake_result("plain-56", 0.5, [0.9, 0.9, 0.8, 0.9])
    s = lesion.sweep_sentence(res)
    assert "intact 20.0%" in s and "24.0% on average (+4.0 points)" in s and "b1 (30.0%)" in s
    assert "6% of its accuracy above chance" in s  # 0.04 / (0.9 - 0.2)
    c = lesion.contrast_sentence(res, plain)
    assert "+4.0 points" in c and "+37.5 points" in c and "6% of the ResNet's" in c and "94% of the plain net's" in c
    k = lesion.k_sentence(res)
    assert (
        "30.5% error with 1 block deleted" in k
        and "40.5% with 2 (range over 2 draws 40.0%–41.0%)" in k
        and "60.5% with all 4" in k
    )
    assert lesion.lost_share(0.95, 0.96) != lesion.lost_share(0.95, 0.96)  # no room above chance: NaN


def test_a_net_at_chance_is_named_and_no_contrast_is_drawn_from_it():
    res = fake_result("ResNet-56 (A)", 0.26, [0.3, 0.4, 0.32, 0.36])
    stuck = fake_result("plain-56", 0.88, [0.89, 0.9, 0.88, 0.89])  # 500 images: 2 points above guessing's 90%
    assert lesion.near_chance(stuck) and not lesion.near_chance(res)
    assert "near chance" in lesion.sweep_sentence(stuck) and "accuracy above chance" not in lesion.sweep_sentence(stuck)
    c = lesion.contrast_sentence(res, stuck)
    assert c.startswith("This pair cannot show the contrast: plain-56 never left chance") and "%" not in c


def test_path_lengths_are_binomial():
    rows = lesion.path_lengths(27)
    assert [r["count"] for r in rows] == [math.comb(27, k) for k in range(28)]
    assert sum(r["share"] for r in rows) == pytest.approx(1.0)
    lo, hi, mass = lesion.central_range(27)
    assert mass >= 0.95 and lo <= 13 <= hi and sum(r["share"] for r in rows[lo + 1 : hi]) < 0.95
    assert "2^27 = 134,217,728 paths" in lesion.paths_sentence(27)


# ---------------------------------------------------------------------------------- landscape


def test_directions_are_filter_normalised_and_leave_bn_and_biases_alone():
    model = net("B")
    (d,) = landscape.directions(model, seed=3, count=1)
    for name, p in model.named_parameters():
        if p.dim() > 1:
            assert torch.allclose(d[name].flatten(1).norm(dim=1), p.detach().flatten(1).norm(dim=1), rtol=1e-4), name
        else:
            assert not d[name].any(), name  # BN scales and shifts, the classifier's bias
    again = landscape.directions(model, seed=3, count=2)
    assert all(torch.equal(again[0][k], d[k]) for k in d) and not torch.equal(again[1]["fc.weight"], d["fc.weight"])


def test_the_grid_centre_is_the_trained_network_and_points_differ():
    model = net("A")
    x, y = torch.randn(16, 3, 32, 32), torch.randint(0, 10, (16,))
    dirs = landscape.directions(model, 0, 2)
    losses, accs = landscape.evaluate_grid(model, x, y, dirs, [(0.0, 0.0), (0.5, 0.0), (0.0, -0.5)])
    with torch.no_grad():
        assert losses[0] == pytest.approx(F.cross_entropy(model(x), y).item(), rel=1e-4)
    assert len(set(losses)) == 3 and all(0 <= a <= 1 for a in accs)


def test_landscape_cache_answers_the_second_request_and_survives_a_damaged_file(tmp_path):
    model = net("A", n=1)
    x, y = torch.randn(8, 3, 32, 32), torch.randint(0, 10, (8,))
    loads = []

    def load():
        loads.append(1)
        return model, x, y, "ResNet-8 (A)"

    kw = dict(kind="2d", seed=0, steps=3, span=0.5, batch=8)
    first = landscape.cached_compute(tmp_path, "run1", load, **kw)
    assert not first.cached and np.array(first.loss).shape == (3, 3) and first.alphas == [-0.5, 0.0, 0.5]
    second = landscape.cached_compute(tmp_path, "run1", load, **kw)
    assert second.cached and second.loss == first.loss and len(loads) == 1
    path = landscape.cache_path(tmp_path, "run1", "2d", 0, 3, 0.5, 8)
    path.write_text("{ not json")
    third = landscape.cached_compute(tmp_path, "run1", load, **kw)
    assert not third.cached and third.loss == first.loss and len(loads) == 2
    assert not list(path.parent.glob(".*.tmp"))


@pytest.mark.parametrize(
    "steps, span, batch, match",
    [
        (2, 1.0, 8, "grid"),
        (500, 1.0, 8, "grid"),
        (11, 0, 8, "span"),
        (11, 9, 8, "span"),
        (11, 1.0, 0, "batch"),
        (True, 1.0, 8, "grid"),
    ],
)
def test_landscape_requests_out_of_range_are_refused(steps, span, batch, match):
    with pytest.raises(landscape.LandscapeError, match=match):
        landscape.check_request(steps, span, batch)


def test_smoothness_measures():
    alphas = np.linspace(-1, 1, 5)
    bowl = [100.0, 10.0, 1.0, 10.0, 100.0]
    assert landscape.local_minima(bowl) == 1 and landscape.log_slope(alphas, bowl) == pytest.approx(2.0)
    bumpy = [3.0, 1.0, 2.0, 1.0, 3.0]
    assert landscape.local_minima(bumpy) == 2
    assert landscape.log_slope(alphas, [1.0, 1.0, float("inf"), 1.0, 1.0]) == 0.0  # non-finite points are skipped
    assert landscape.local_minima([1.0, 2.0]) == 1


def slice_of(model, losses):
    n = len(losses)
    return landscape.Landscape("r", model, "1d", 0, n, 1.0, 8, list(np.linspace(-1, 1, n)), [], losses, [0.5] * n)


def test_slice_sentences_and_verdict_follow_the_data():
    smooth = slice_of("ResNet-56 (A)", [100.0, 10.0, 1.0, 10.0, 100.0])
    steep = slice_of("plain-56", [1e6, 1e3, 2.0, 1.5, 2.0])
    assert (
        "loss 1 nats at the trained weights, rising by up to 2 decades per unit of α, 1 local minimum over 5 points"
        in landscape.slice_sentence([smooth])
    )
    verdict = landscape.smoothness_verdict(smooth, steep)
    assert (
        verdict.startswith("By steepness the ResNet's slice is the smoother: 2 against 6 decades")
        and "both have 1" in verdict
    )
    assert "is not the smoother" in landscape.smoothness_verdict(steep, smooth)
    bumpy = slice_of("ResNet", [100.0, 1.0, 2.0, 1.0, 100.0])
    assert "does not show the paper's contrast" in landscape.smoothness_verdict(bumpy, smooth)


def test_curvature_is_the_second_derivative_and_ignores_how_near_zero_the_bottom_is():
    alphas = np.linspace(-1, 1, 5)
    assert landscape.curvature(alphas, 4 * alphas**2) == pytest.approx(8.0)  # L = 4α², L'' = 8
    assert landscape.curvature(alphas, [1.0, 2.0, float("inf"), 2.0, 1.0]) != landscape.curvature(alphas, [1.0] * 5)
    assert np.isnan(landscape.curvature(alphas[:2], [1.0, 2.0]))
    # A trained ResNet whose loss at the bottom is 1e-4 nats climbs more decades per step than a plain net
    # stuck at 2 nats, yet its slice bends far less: the verdict says both, and why steepness disagrees.
    deep_bottom = slice_of("ResNet-56 (A)", [100.0, 1.0, 1e-4, 1.0, 100.0])
    walls = slice_of("plain-56", [1e3, 10.0, 2.0, 10.0, 1e3])
    verdict = landscape.smoothness_verdict(deep_bottom, walls)
    assert "By steepness the ResNet's slice is not the smoother here" in verdict and "so near zero" in verdict
    assert "by curvature it is the smoother: 264 against 2.64e+03 nats per unit α² (0.1×)" in verdict
    assert "by curvature it is not" in landscape.smoothness_verdict(walls, deep_bottom)


# ----------------------------------------------------------------------------------- features


def test_block_parts_add_up_and_plain_blocks_have_no_shortcut():
    x = torch.randn(3, 32, 32)
    model = net("A")
    maps, view, stds = inspect(model, x, "stage2.block0")
    assert list(view.parts) == list(PARTS) and view.has_shortcut
    assert np.allclose(view.parts["F(x)"] + view.parts["x (shortcut)"], view.parts["F(x) + x"], atol=1e-5)
    assert np.allclose(np.maximum(view.parts["F(x) + x"], 0), view.parts["output"], atol=1e-6)
    assert view.parts["x (shortcut)"].shape == (32, 16, 16) and not view.parts["x (shortcut)"][16:].any()  # zero-padded
    assert list(maps) == layer_names(model) and maps["stage3.block1"].shape == (64, 8, 8)
    assert len(stds) == 13 and (stds["value"] > 0).all()  # the stem and 2 convs in each of 6 blocks
    assert "the residual F(x) has RMS" in parts_sentence("ResNet-14 (A)", view)

    _, plain_view, _ = inspect(net("none"), x, "stage1.block1")
    assert "x (shortcut)" not in plain_view.parts and not plain_view.has_shortcut
    assert np.allclose(plain_view.parts["F(x)"], plain_view.parts["F(x) + x"])
    assert "has no shortcut" in parts_sentence("plain-14", plain_view)
    with pytest.raises(ValueError, match="no block"):
        inspect(model, x, "stage9.block0")


def test_strongest_channels_and_maps_sentence():
    maps = np.zeros((4, 2, 2))
    maps[2] = 5
    maps[0] = -1
    assert strongest_channels(maps, 2) == [2, 0]
    assert maps_sentence("stem", {"net": maps}) == "At stem, net hands on 4 maps of 2×2 pixels, 2 of them all zero."


# ------------------------------------------------------------------------- runs in a store


@pytest.fixture(scope="module")
def tiny_pair(tmp_path_factory):
    from core.runs.execute import train
    from core.runs.store import RunStore

    store = RunStore(tmp_path_factory.mktemp("inside_store"))
    runs = [train(tiny_config(shortcut=s, probe_every=0), store).record for s in ("none", "A")]
    return store, runs


def test_matched_pair_takes_equal_depth_and_training(tiny_pair):
    store, (plain, resnet) = tiny_pair
    records = store.list()
    assert inside.matched_pair(records) == (plain, resnet)  # no depth 56 stored: the pair that exists
    other = copy.deepcopy(resnet)
    other.config = tiny_config(shortcut="A", probe_every=0, epochs=2)
    assert inside.matched_pair([plain, other]) == (None, None)


def test_lesion_pair_prefers_networks_that_learned():
    from core.engine.config import RunConfig
    from core.runs.store import RunRecord

    def run(shortcut, depth, test_acc, epochs=8, dataset="builtin"):
        config = RunConfig(
            depth=depth, shortcut=shortcut, recipe="seed", subset=1000, test_subset=500, epochs=epochs, dataset=dataset
        )
        return RunRecord(
            config.run_id,
            config,
            "done",
            metrics={"test_acc": test_acc},
            info={"classes": list("abcdefghij"), "n_test": 500},
            reference=True,
        )

    stuck56, learned20 = [run("none", 56, 0.11), run("A", 56, 0.8)], [run("none", 20, 0.6), run("A", 20, 0.75)]
    assert inside.matched_pair([*stuck56, *learned20]) == tuple(stuck56)  # depth 56 asked for: the pair at 56
    assert inside.matched_pair([*stuck56, *learned20], learned_first=True) == tuple(
        learned20
    )  # a lesion needs something to lose
    longer56 = [run("none", 56, 0.5, epochs=30), run("A", 56, 0.9, epochs=30)]  # trained longer: both learned
    for learned_first in (False, True):
        assert inside.matched_pair([*stuck56, *learned20, *longer56], learned_first=learned_first) == tuple(longer56)
    cifar56 = [run("none", 56, 0.4, dataset="cifar10"), run("A", 56, 0.7, dataset="cifar10")]
    every = [*stuck56, *learned20, *longer56, *cifar56]
    assert inside.matched_pair(every, prefer_dataset="cifar10") == tuple(cifar56)  # real data where it is here
    assert inside.matched_pair(every) == tuple(longer56)


def test_lesion_for_run_is_cached_in_the_store(tiny_pair):
    store, (plain, resnet) = tiny_pair
    first, cached = inside.lesion_for_run(store, resnet, images=60, k_images=30, draws=1)
    assert not cached and first.n_blocks == 3 and first.model == "ResNet-8 (A)"
    again, cached = inside.lesion_for_run(store, resnet, images=60, k_images=30, draws=1)
    assert cached and again == first
    assert inside.cached_lesion(store, plain, images=60, k_images=30, draws=1) is None
    weights = store.weights_path(resnet.run_id)
    os.utime(weights, (weights.stat().st_atime, weights.stat().st_mtime + 5))  # the same weights, touched
    assert inside.cached_lesion(store, resnet, images=60, k_images=30, draws=1) == first
    model = store.load_model(resnet.run_id)
    with torch.no_grad():
        model.fc.bias.add_(0.01)
    store.save_weights(resnet.run_id, model)  # the run was trained again: other weights
    assert inside.cached_lesion(store, resnet, images=60, k_images=30, draws=1) is None
    _, cached = inside.lesion_for_run(store, resnet, images=60, k_images=30, draws=1)
    assert not cached


def test_response_sentence_says_whether_the_resnet_is_the_smaller():
    import pandas as pd

    from core.analysis.features import response_sentence

    small, large = pd.Series([0.2, 0.4]), pd.Series([0.9, 1.1])
    text = response_sentence({"plain-56": large, "ResNet-56 (A)": small}, "ResNet-56 (A)")
    assert "plain-56: mean 1 over its 2 3×3 layers; ResNet-56 (A): mean 0.3" in text and "as in the paper" in text
    assert "do not show the paper's finding" in response_sentence(
        {"plain-56": small, "ResNet-56 (A)": large}, "ResNet-56 (A)"
    )
    assert response_sentence({"x": pd.Series([], dtype=float)}) == ""
