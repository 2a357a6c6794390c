"""What the shipped reference runs show in the lesion study and the loss landscape.

The runs are found by their config (a shipped plain net and ResNet-A of depth 56, trained the same
way), not by id, so these tests hold when the reference set is rebuilt with longer training. They pin
patterns, not numbers; the measured numbers are in the README."""
import pytest

from core import inside, landscape, lesion
from core.reference import install
from core.store import RunStore
from core.verdict import record_verdict

LESION_IMAGES = 500  # the README's measurement; a smaller sample makes plain-56's small margin over chance noisy


def shipped_with_weights(store):
    return [r for r in store.list() if r.reference and store.weights_path(r.run_id).exists()]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("shipped"))
    install(store)
    plain, resnet = inside.matched_pair(shipped_with_weights(store), depth=56)
    if plain is None or plain.config.depth != 56:
        pytest.fail("the shipped reference runs no longer include a plain-56 and ResNet-56 trained the same way")
    assert resnet.config.shortcut == "A" and resnet.config.depth == 56
    return store, plain, resnet


def test_deleting_one_block_costs_resnet_56_far_less_than_plain_56(shipped):
    store, plain, resnet = shipped
    res, _ = inside.lesion_for_run(store, resnet, images=LESION_IMAGES, k_images=0)
    r = lesion.sweep_summary(res)
    # Measured against the net's accuracy above chance (90% error on 10 balanced classes).
    r_lost = lesion.lost_share(r["intact"], r["mean"])
    assert r_lost < 0.25, r
    # The median single deletion leaves the ResNet within a few points of intact (Veit et al.).
    typical = sorted(b["error"] for b in res.blocks)[len(res.blocks) // 2]
    assert typical - r["intact"] < 0.1
    if record_verdict(plain) is None:  # a plain-56 that learned: one deletion destroys most of what it learned
        pla, _ = inside.lesion_for_run(store, plain, images=LESION_IMAGES, k_images=0)
        p = lesion.sweep_summary(pla)
        assert lesion.lost_share(p["intact"], p["mean"]) > 3 * r_lost, (r, p)
    else:  # the short shipped plain-56 never left chance: it has nothing to lose, so the contrast is read at 20 layers
        plain20, resnet20 = inside.matched_pair(shipped_with_weights(store), depth=20)
        assert plain20.config.depth == 20 and record_verdict(plain20) is None and record_verdict(resnet20) is None
        p20 = lesion.sweep_summary(inside.lesion_for_run(store, plain20, images=LESION_IMAGES, k_images=0)[0])
        r20 = lesion.sweep_summary(inside.lesion_for_run(store, resnet20, images=LESION_IMAGES, k_images=0)[0])
        assert p20["mean"] - p20["intact"] > r20["mean"] - r20["intact"], (p20, r20)
        assert lesion.lost_share(p20["intact"], p20["mean"]) > 1.5 * lesion.lost_share(r20["intact"], r20["mean"]), (p20, r20)


def test_resnet_56_loss_slice_is_smoother_than_plain_56(shipped):
    store, plain, resnet = shipped
    kw = dict(kind="1d", seed=0, steps=21, span=1.0, batch=64)
    res = inside.landscape_for_run(store, resnet, **kw)
    pla = inside.landscape_for_run(store, plain, **kw)
    r, p = landscape.smoothness(res), landscape.smoothness(pla)
    assert r["log_slope"] < 0.75 * p["log_slope"], (r, p)  # steepness: decades of loss per unit of α
    assert landscape.smoothness_verdict(res, pla).startswith("By steepness the ResNet's slice is the smoother")
