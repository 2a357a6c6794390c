"""Per-class accuracy and confusion matrices (core.analysis.confusion): counted right, cached per run and weights,
shipped for the shipped CIFAR-10 runs and read without computing, and the class's question answered from two
matrices only where the gap is beyond the sampling of test images."""

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from core.analysis import confusion, inside, queue
from core.runs.reference import CIFAR10_FIG6, install
from core.runs.store import RunStore
from dashboard import figures

CLASSES = ["a", "b", "c"]


def result(model, matrix):
    m = np.asarray(matrix)
    return confusion.Confusion("r", model, "toy", CLASSES, m.tolist(), int(m.sum()))


def test_the_matrix_counts_each_image_once_by_true_and_predicted_class():
    logits = torch.tensor([[5.0, 0, 0], [0, 5.0, 0], [0, 5.0, 0], [0, 0, 5.0]])
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3, 3, bias=False))
    with torch.no_grad():
        model[1].weight.copy_(torch.eye(3))
    images = logits.view(4, 3, 1, 1)
    counts = confusion.confusion_matrix(model, images, torch.tensor([0, 1, 0, 2]), 3, batch=3)
    assert counts.tolist() == [[1, 1, 0], [0, 1, 0], [0, 0, 1]]
    r = result("m", counts)
    assert r.accuracy == 0.75 and confusion.per_class_accuracy(r) == {"a": 0.5, "b": 1.0, "c": 1.0}


def test_a_confusion_is_named_only_beyond_sampling_noise():
    plain = result("plain-56", [[900, 80, 20], [10, 980, 10], [30, 30, 940]])
    resnet = result("ResNet-56", [[950, 30, 20], [10, 985, 5], [25, 30, 945]])
    found = confusion.more_confused(plain, resnet)
    # a→b: 80 against 30 is a gap of 50 > 2√110 ≈ 21; b→c (10 vs 5) and c→a (30 vs 25) are within noise.
    assert found == [dict(true="a", predicted="b", a=80, b=30, of=1000)]
    text = confusion.question_sentence(plain, resnet)
    assert "**Which classes does plain-56 confuse that ResNet-56 does not?**" in text
    assert "a taken for b: 80 of 1,000 a images against 30" in text and "between seeds is not measured" in text
    assert "None beyond sampling noise" in confusion.question_sentence(resnet, plain)


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    store = RunStore(tmp_path_factory.mktemp("shipped"))
    install(store)
    return store, queue.shipped_cifar(store)


def test_shipped_cifar_runs_ship_their_matrices_and_are_read_without_computing(shipped, monkeypatch):
    store, runs = shipped
    assert len(runs) >= 2
    monkeypatch.setattr(confusion, "compute", lambda *a, **k: pytest.fail("computed instead of read"))
    results = {r.run_id: inside.cached_confusion(store, r) for r in runs}
    for record in runs:
        r = results[record.run_id]
        assert r is not None and r.images == 10_000 and r.classes[3] == "cat"
        assert np.asarray(r.matrix).sum(axis=1).tolist() == [1000] * 10  # every test image, 1,000 per class
        # the matrix agrees with the accuracy the run stored at its last epoch: within a few images in 10,000, as the
        # runs trained on a bf16 CPU were tested in bf16 and the matrix is computed in fp32
        assert r.accuracy == pytest.approx(record.metrics["test_acc"], abs=1e-3)
        assert queue.request(store, record, "confusion", {}).status == "done"  # no job: the result is there
    fig6_epochs = CIFAR10_FIG6["epochs"]
    plain, resnet = (
        next(r for r in runs if r.config.shortcut == s and r.config.depth == 56 and r.config.epochs == fig6_epochs)
        for s in ("none", "A")
    )
    a, b = results[plain.run_id], results[resnet.run_id]
    text = confusion.question_sentence(a, b)
    assert text.startswith(f"**Which classes does {a.model} confuse that {b.model}")
    for pair in confusion.more_confused(a, b):
        assert f"{pair['true']} taken for {pair['predicted']}: {pair['a']} of 1,000" in text


def test_the_command_line_prints_the_cached_matrix(shipped):
    store, runs = shipped
    out = subprocess.run(
        [sys.executable, "-m", "core", "confusion", runs[0].run_id, "--json", "--store", str(store.root)],
        capture_output=True,
        text=True,
        check=True,
    )
    obj = json.loads(out.stdout)
    assert obj["cached"] and len(obj["matrix"]) == 10 and set(obj["per_class_accuracy"]) == set(obj["classes"])


def test_confusion_figures_show_shares_of_the_true_class():
    r = result("m", [[3, 1, 0], [0, 2, 2], [0, 0, 0]])
    fig = figures.confusion_figure(r.classes, r.matrix, "m")
    z = np.asarray(fig.data[0].z, dtype=float)
    assert z[0].tolist() == [75, 25, 0] and z[1].tolist() == [0, 50, 50] and np.isnan(z[2]).all()
    assert fig.layout.xaxis.title.text == "predicted class" and fig.layout.yaxis.title.text == "true class"
    import pandas as pd

    frame = pd.DataFrame({"class": CLASSES, "accuracy": [0.75, 0.5, np.nan]})
    bars = figures.per_class_figure([figures.RunSeries("plain-20", "plain", 20, frame)])
    assert list(bars.data[0].y[:2]) == [75, 50] and bars.data[0].marker.pattern.shape == "/"
