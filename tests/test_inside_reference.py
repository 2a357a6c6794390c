"""What the shipped reference runs show in the lesion study and the loss landscape.

The runs are found by their config (a shipped plain net and ResNet-A of depth 56, trained the same
way, both of which learned), not by id, so these tests hold when the reference set is rebuilt with longer
training. They pin patterns, not numbers; the measured numbers are in the README."""

import pytest

from core.analysis import inside, landscape, lesion
from core.runs.reference import install
from core.runs.store import RunStore
from core.runs.verdict import record_verdict

LESION_IMAGES = 500  # the README's measurement; a smaller sample makes plain-56's small margin over chance noisy


def shipped_with_weights(store):
    return [r for r in store.list() if r.reference and store.weights_path(r.run_id).exists()]


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("shipped"))
    install(store)
    # The Shapes-10 deep pair (3,750 steps), the one these patterns and the README's numbers are about. On the
    # CIFAR-10 pair (2,340 steps) a deleted block costs plain-56 about 4x what it costs ResNet-56 and the ResNet's
    # slice is the more curved one; the pages state what each pair shows from its own numbers.
    plain, resnet = inside.matched_pair(
        shipped_with_weights(store), depth=56, learned_first=True, prefer_dataset="builtin"
    )
    if plain is None or plain.config.depth != 56 or record_verdict(plain) is not None:
        pytest.fail(
            "the shipped reference runs no longer include a plain-56 and ResNet-56 trained the same way that "
            "both learned"
        )
    assert resnet.config.shortcut == "A" and resnet.config.depth == 56
    return store, plain, resnet


def test_deleting_one_block_costs_resnet_56_far_less_than_plain_56(shipped):
    store, plain, resnet = shipped
    res, _ = inside.lesion_for_run(store, resnet, images=LESION_IMAGES, k_images=0)
    r = lesion.sweep_summary(res)
    # The median single deletion leaves the ResNet within a few points of intact (Veit et al.).
    typical = sorted(b["error"] for b in res.blocks)[len(res.blocks) // 2]
    assert typical - r["intact"] < 0.1
    p = lesion.sweep_summary(inside.lesion_for_run(store, plain, images=LESION_IMAGES, k_images=0)[0])
    # In points of test error: one deleted block costs plain-56 many times what it costs ResNet-56.
    assert p["mean"] - p["intact"] > 5 * (r["mean"] - r["intact"]), (p, r)
    # Measured against each net's accuracy above chance (90% error on 10 balanced classes): the ResNet keeps
    # nearly all of it, the plain net loses most of it (Veit et al. 2016).
    assert lesion.lost_share(r["intact"], r["mean"]) < 0.1 and lesion.lost_share(p["intact"], p["mean"]) > 0.5, (p, r)


def test_resnet_56_loss_slice_is_smoother_than_plain_56(shipped):
    store, plain, resnet = shipped
    kw = dict(kind="1d", seed=0, steps=21, span=1.0, batch=64)
    res = inside.landscape_for_run(store, resnet, **kw)
    pla = inside.landscape_for_run(store, plain, **kw)
    r, p = landscape.smoothness(res), landscape.smoothness(pla)
    # Curvature (mean |second difference|, nats per unit α²): the plain net's walls bend many times harder
    # (Li et al. 2018, Fig. 5: chaotic against smooth). Steepness in decades is not pinned: the ResNet's loss
    # at the bottom is near zero, so every step away from it climbs decades (the page says so).
    assert r["curvature"] < 0.1 * p["curvature"], (r, p)
    assert r["local_minima"] <= p["local_minima"], (r, p)
    assert "by curvature it is the smoother" in landscape.smoothness_verdict(res, pla)


def test_the_pages_opening_results_ship_and_are_read_without_computing(shipped, monkeypatch):
    from core.analysis import queue

    store = shipped[0]
    monkeypatch.setattr(landscape, "compute", lambda *a, **k: pytest.fail("computed instead of read"))
    monkeypatch.setattr(lesion, "lesion_study", lambda *a, **k: pytest.fail("computed instead of read"))
    pairs = queue.opening_pairs(store)
    assert set(pairs) == {"lesion", "landscape"}
    for record in pairs["lesion"]:
        assert inside.cached_lesion(store, record, **queue.LESION_DEFAULT) is not None, record.label
        assert queue.request(store, record, "lesion", queue.LESION_DEFAULT).progress == 1.0  # done: no job
    for record in pairs["landscape"]:
        for params in (queue.SLICE_DEFAULT, queue.PLANE_DEFAULT):
            assert inside.cached_landscape(store, record, **params) is not None, (record.label, params)
    assert store.analyses() == []
    shipped_bytes = sum(p.stat().st_size for p in inside.SHIPPED_RESULTS.rglob("*.json"))
    assert shipped_bytes < 1_000_000


def test_plane_sentence_uses_absolute_loss_computed_from_the_shipped_planes():
    """ResNet-56's loss at its trained weights is 0.0006 nats, so "within twice the centre" is one point: the
    sentence compares the planes by absolute loss (share below chance, median) instead."""
    import json
    from pathlib import Path

    import numpy as np

    from core.engine.config import RunConfig
    from core.runs.reference import DEEP_PAIR, DEEP_PAIR_PROBE_EVERY

    deep_pair = {  # the Shapes-10 deep pair's planes (the CIFAR-10 pair's have the same model names)
        RunConfig(depth=56, shortcut=s, probe_every=DEEP_PAIR_PROBE_EVERY, **DEEP_PAIR).run_id for s in ("none", "A")
    }
    root = Path(landscape.__file__).parents[1] / "runs" / "shipped" / "results" / "landscapes"
    loaded = (landscape.Landscape.from_dict(json.loads(f.read_text())) for f in root.glob("*-2d-*"))
    planes = {p.model: p for p in loaded if p.run_id in deep_pair}
    resnet, plain = planes["ResNet-56 (A)"], planes["plain-56"]
    for plane in (resnet, plain):
        loss = np.asarray(plane.loss, dtype=float)
        s = landscape.plane_summary(plane)
        assert s["below_chance"] == (loss < np.log(10)).mean() and s["median"] == np.median(loss)
        sentence = landscape.contour_sentence(plane)
        assert f"{100 * s['below_chance']:.0f}% of the points lie below ln 10" in sentence
        assert "within twice" not in sentence
    assert landscape.plane_summary(resnet)["below_chance"] > landscape.plane_summary(plain)["below_chance"]
    assert landscape.plane_summary(resnet)["median"] < landscape.plane_summary(plain)["median"] / 10
    assert "median 42.1;" in landscape.contour_sentence(resnet) and "median 2,040;" in landscape.contour_sentence(plain)
