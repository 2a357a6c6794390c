"""The detectors shipped with the reference runs (core/runs/shipped/results/ood): one per shipped run with weights,
fitted for exactly those weights, under 1 MB together, so the Classify page judges images at once and never fits
one in the web process; a shipped Shapes-10 model flags noise and says plainly what it cannot tell apart."""

import pytest

from core.analysis import inside, ood
from core.runs.reference import REFERENCE_DIR, SHAPES10_LESSON, install
from core.runs.store import RunStore


@pytest.fixture(scope="module")
def shipped_store(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("ood"))
    install(store, REFERENCE_DIR)
    return store


def with_weights(store):
    return [r for r in store.list() if store.weights_path(r.run_id).exists()]


def test_every_shipped_model_has_its_detector_and_together_they_are_small(shipped_store):
    files = list((inside.SHIPPED_RESULTS / ood.CACHE_DIR).glob("*.npz"))
    assert sum(f.stat().st_size for f in files) < 1_000_000
    records = with_weights(shipped_store)
    assert len(files) == len(records)
    for record in records:
        detector = ood.cached_detector(shipped_store, record)
        assert detector is not None, record.label
        assert detector.meta["run_id"] == record.run_id
        assert detector.meta["weights"] == shipped_store.weights_digest(record.run_id)
        assert detector.meta["calibration"] == ood.CALIBRATION and detector.meta["calibration_flagged"] <= 0.04
        if record.config.dataset == "cifar10":  # noise, flat colours and Shapes-10 images: all separated
            assert not detector.blind_spots, detector.self_check
        else:  # photos pass as Shapes-10 too often (except for the best-trained net), and its verdicts say so
            assert [c["title"] for c in detector.blind_spots] in ([], ["CIFAR-10 photos"])
    blind = [r for r in records if ood.cached_detector(shipped_store, r).blind_spots]
    assert len(blind) >= len(records) // 2 and all(r.config.dataset == "builtin" for r in blind)


def test_a_shipped_shapes_model_flags_noise_and_cannot_vouch_for_what_it_lets_through(shipped_store):
    record = next(
        r
        for r in with_weights(shipped_store)
        if r.config.dataset == "builtin"
        and r.config.depth == 20
        and r.config.shortcut == "A"
        and r.config.batch_size == SHAPES10_LESSON["batch_size"]
    )
    detector = ood.cached_detector(shipped_store, record)
    model, mean, std = shipped_store.load_model(record.run_id), record.info["mean"], record.info["std"]
    noise = ood.judge(detector, model, ood.uniform_noise(20, seed=3), mean, std)
    assert all(v.flagged for v in noise)
    let_through = [v for v in ood.judge(detector, model, ood.photo_like(40, seed=3), mean, std) if not v.flagged]
    assert let_through and all(v.level == "cannot_vouch" for v in let_through)
    text = let_through[0].sentence("ResNet-20 (A)", "Shapes-10")
    assert "does not mean it looks like Shapes-10" in text and "CIFAR-10 photos" in text
    assert "typical" not in text and "confidently wrong" in ood.WHY_CONFIDENT
