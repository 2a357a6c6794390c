"""core.analysis.ood: a shipped Shapes-10 model flags images unlike its training data, judged against its
own test set."""

import pytest
import torch

from core.analysis import ood
from core.engine.data import load_dataset
from core.runs.reference import REFERENCE_DIR, SHAPES10_LESSON, install
from core.runs.store import RunStore


@pytest.fixture(scope="module")
def shipped_resnet20(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("ood"))
    install(store, REFERENCE_DIR)
    record = next(
        r
        for r in store.list()
        if r.config.depth == 20
        and r.config.shortcut == "A"
        and r.config.seed == 0
        and r.config.batch_size == SHAPES10_LESSON["batch_size"]
        and store.weights_path(r.run_id).exists()
    )
    ds = load_dataset(
        "builtin", subset=record.config.subset, test_subset=600, seed=0, cache_dir=str(store.root / "datasets")
    )
    return store.load_model(record.run_id), record.info["mean"], record.info["std"], ds


def test_noise_is_flagged_and_most_of_its_own_test_images_are_not(shipped_resnet20):
    model, mean, std, ds = shipped_resnet20
    reference = ood.build_reference(model, ds.x_train[:500], ds.x_test[:500], mean, std)
    own = [ood.judge(model, ds.x_test[i], mean, std, reference).unlike_training for i in range(500, 600)]
    assert sum(own) <= 25  # three criteria, each at its 95% test-set quantile; measured 12 of 100
    g = torch.Generator().manual_seed(1)
    noise = [
        ood.judge(model, torch.randint(0, 256, (3, 32, 32), generator=g, dtype=torch.uint8), mean, std, reference)
        for _ in range(20)
    ]
    assert sum(j.unlike_training for j in noise) >= 18  # measured 20 of 20
    flagged = next(j for j in noise if j.unlike_training)
    assert "unlike its training data" in flagged.sentence("ResNet-20 (A)", "Shapes-10")
    assert "confidently wrong" in ood.WHY_CONFIDENT
