"""Reference runs: the export/install round trip, and the shipped set itself."""

import pytest
import torch
from conftest import tiny_config

from core.runs import reference
from core.runs.execute import train
from core.runs.store import RunStore


def test_export_then_install_round_trips_history_and_weights(tmp_path):
    source = RunStore(tmp_path / "source")
    rec = train(tiny_config(epochs=2), source).record
    reference.export_run(source, rec.run_id, tmp_path / "ref" / "builtin")

    target = RunStore(tmp_path / "target")
    assert reference.install(target, tmp_path / "ref") == 1
    assert reference.install(target, tmp_path / "ref") == 0  # once only
    got = target.get(rec.run_id)
    assert got.reference and got.status == "done" and got.metrics == rec.metrics
    a, b = source.history(rec.run_id), target.history(rec.run_id)
    for table in ("steps", "epochs", "probes", "evals"):
        assert getattr(a, table).equals(getattr(b, table)), table
    assert b.epochs.train_eval_acc.notna().all() and len(b.evals) == 9  # 8 steps: one test point after each, and step 0
    x = torch.randn(2, 3, 32, 32)
    torch.testing.assert_close(target.load_model(rec.run_id)(x), source.load_model(rec.run_id)(x), atol=0.05, rtol=0.05)


def test_build_exports_the_stored_runs_prunes_the_rest_and_trains_nothing_when_asked(tmp_path):
    store = RunStore(tmp_path / "store")
    done = train(tiny_config(), store).record
    out = tmp_path / "ref" / "builtin"
    out.mkdir(parents=True)
    (out / "0123456789ab.json.gz").write_bytes(b"an old run no longer in the set")
    log = []
    reference.build([tiny_config(), tiny_config(seed=7)], store, out, log=log.append, stored_only=True)
    assert sorted(p.name for p in out.glob("*.json.gz")) == [f"{done.run_id}.json.gz"]
    assert any("seed 7: not in the store, left out" in line for line in log)
    assert store.get(tiny_config(seed=7).run_id) is None  # nothing trained


def test_a_damaged_reference_file_is_skipped(tmp_path, capsys):
    (tmp_path / "ref" / "builtin").mkdir(parents=True)
    (tmp_path / "ref" / "builtin" / "abc.json.gz").write_bytes(b"not gzip")
    assert reference.install(RunStore(tmp_path / "s"), tmp_path / "ref") == 0
    assert "skipped" in capsys.readouterr().err


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    if not list(reference.REFERENCE_DIR.glob("builtin/*.json.gz")):
        pytest.fail("the Shapes-10 reference runs are missing from reference/builtin")
    store = RunStore(tmp_path_factory.mktemp("shipped"))
    reference.install(store)
    return store


def lesson_runs(store):
    """The shipped set's main runs (the Train page's default recipe), by (shortcut, depth, seed)."""
    lesson = reference.SHAPES10_LESSON
    return {
        (r.config.shortcut, r.config.depth, r.config.seed): r
        for r in store.list()
        if r.config.dataset == "builtin"
        and r.config.recipe == lesson["recipe"]
        and r.config.schedule == lesson["schedule"]
        and r.config.batch_size == lesson["batch_size"]
        and r.config.subset == lesson["subset"]
    }


def train_error(record) -> float:
    return 100 * (1 - record.metrics["train_eval_acc"])


def test_shipped_runs_are_complete_and_small(shipped):
    runs = [r for r in shipped.list() if r.config.dataset == "builtin"]
    assert all(r.status == "done" and r.reference for r in runs)
    main = lesson_runs(shipped)
    depths = {(s, d) for s, d, _ in main}
    assert depths == {("none", d) for d in (20, 32, 44, 56)} | {("A", d) for d in (20, 32, 44, 56, 110)}
    for net in (("none", 20), ("A", 20)):  # bands: three seeds each
        assert {k for s, d, k in main if (s, d) == net} >= {0, 1, 2}
    ab = [r for r in runs if r.config.recipe == "seed" and r.config.schedule == "constant"]  # seed study 001's setting
    assert sorted((r.config.shortcut, r.config.seed) for r in ab) == [(s, k) for s in "AB" for k in range(5)]
    for r in main.values():
        h = shipped.history(r.run_id)
        assert len(h.epochs) == r.config.epochs and len(h.steps) > 0 and len(h.probes) > 0
        assert h.epochs.train_eval_acc.notna().all()
    size = sum(p.stat().st_size for p in reference.REFERENCE_DIR.rglob("*") if p.is_file())
    assert size < 30e6


def test_shipped_fig6_curves_have_at_least_20_points(shipped):
    from dashboard.figures import training_points

    main = lesson_runs(shipped)
    for net in (("none", 20), ("none", 56), ("A", 20), ("A", 56)):
        h = shipped.history(main[(*net, 0)].run_id)
        points = training_points(h.epochs, h.evals)
        assert (points.split == "test").sum() >= 20 and (points.split == "train").sum() == 8


def test_shipped_runs_show_what_the_readme_and_pages_say(shipped):
    """The measured pattern the README's "Reference runs" text and the pages' sentences rely on."""
    from core.runs.verdict import record_verdict

    main = lesson_runs(shipped)
    plain = {d: main[("none", d, 0)] for d in (20, 32, 44, 56)}
    resnet = {d: main[("A", d, 0)] for d in (20, 32, 44, 56, 110)}
    # Plain nets: training error rises with depth; plain-20 and plain-32 learn, plain-56 ends near chance.
    assert train_error(plain[20]) < train_error(plain[32]) < train_error(plain[56])
    assert record_verdict(plain[20]) is None and record_verdict(plain[32]) is None
    assert record_verdict(plain[56]).startswith("ended near chance")
    # ResNets learn at every depth and beat the plain net of equal depth; ResNet-32 and -44 end below ResNet-20,
    # but in runs this short ResNet-56 and -110 end above it (the paper's other half needs longer training).
    assert all(record_verdict(r) is None for r in resnet.values())
    assert all(train_error(resnet[d]) < train_error(plain[d]) for d in (20, 32, 44, 56))
    assert train_error(resnet[32]) < train_error(resnet[20]) and train_error(resnet[44]) < train_error(resnet[20])
    assert train_error(resnet[56]) > train_error(resnet[20]) and train_error(resnet[110]) > train_error(resnet[20])
    shipped.load_model(resnet[56].run_id)


def test_the_longer_trained_deep_pair_both_learned(shipped):
    """plain-56 and ResNet-56 trained ~8x longer (reference.DEEP_PAIR): both leave chance, so the lesson views
    have a 56-layer pair with something to lose; the ResNet still ends far ahead (the paper's Fig. 6)."""
    from core.runs.verdict import record_verdict

    pair = {
        r.config.shortcut: r
        for r in shipped.list()
        if r.config.dataset == "builtin"
        and r.config.depth == 56
        and r.config.subset == reference.DEEP_PAIR["subset"]
        and r.config.epochs == reference.DEEP_PAIR["epochs"]
    }
    assert set(pair) == {"none", "A"}
    assert all(record_verdict(r) is None and shipped.weights_path(r.run_id).exists() for r in pair.values())
    assert train_error(pair["A"]) < train_error(pair["none"]) / 2


def cifar10_shipped(store):
    return {
        (r.config.shortcut, r.config.depth): r for r in store.list() if r.reference and r.config.dataset == "cifar10"
    }


def test_shipped_cifar10_runs_are_complete_and_judged_on_the_full_test_set(shipped):
    from core.runs.reference import ships_weights

    assert {("A", 20), ("none", 20), ("A", 56), ("none", 56)} <= set(cifar10_shipped(shipped))
    runs = [r for r in shipped.list() if r.reference and r.config.dataset == "cifar10"]
    for r in runs:
        assert r.status == "done" and r.config.subset is None and r.config.test_subset is None
        assert r.info["n_test"] == 10_000 and r.info["dataset"] == "CIFAR-10 (rebuilt copy)"
        h = shipped.history(r.run_id)
        assert len(h.epochs) == r.config.epochs and h.epochs.train_eval_acc.notna().all() and len(h.probes) > 0
        assert shipped.weights_path(r.run_id).exists() == ships_weights(r.config), r.config.label


def test_shipped_cifar10_resnet_20_classifies_cifar10_test_photos(shipped, cifar_dir):
    """The float16 weights, loaded back, give the recorded accuracy on real CIFAR-10 test images."""
    from core.engine.data import load_dataset, normalize

    record = cifar10_shipped(shipped)[("A", 20)]
    ds = load_dataset("cifar10", data_dir=cifar_dir, test_subset=1000, seed=0)
    model = shipped.load_model(record.run_id)
    with torch.inference_mode():
        acc = (
            (model(normalize(ds.x_test, record.info["mean"], record.info["std"])).argmax(1) == ds.y_test)
            .float()
            .mean()
            .item()
        )
    assert acc > 0.75 and abs(acc - record.metrics["test_acc"]) < 0.04, (acc, record.metrics["test_acc"])


def test_the_cifar10_set_is_fig6_with_one_budget_and_keeps_the_earlier_pair():
    from core.analysis.budget import comparable
    from core.runs.reference import CIFAR10_FIG6, cifar10_fig6, ships_weights

    configs = cifar10_fig6()  # what `python -m core reference build --dataset cifar10` trains and ships
    fig6 = [c for c in configs if all(getattr(c, k) == v for k, v in CIFAR10_FIG6.items())]
    assert sorted((c.shortcut, c.depth, c.seed) for c in fig6) == sorted(
        [(s, 20, k) for s in ("none", "A") for k in (0, 1)] + [(s, 56, 0) for s in ("none", "A")]
    )
    assert len(cifar10_fig6(seeds=3)) - len(configs) == 6  # three seeds of every net
    assert comparable(fig6) and all(c.subset is None and c.test_subset is None for c in fig6)
    earlier = [c for c in configs if c not in fig6]
    assert {c.run_id for c in earlier} == {
        *("e9b3213b8870", "dd37f3315249", "0615d0fc8190", "0ea10d2d477f", "cd0a7d627301", "9c3adcb1dd9e"),  # pilot
        *("dd5bff4529a6", "8b2ba5711080"),  # the first 15-epoch pair
    }, "the runs shipped before keep their ids"
    assert not comparable(fig6[:1] + earlier[:1]) and not comparable(fig6[:1] + earlier[-1:])
    assert all(ships_weights(c) == (c.seed == 0) for c in fig6)
    assert [c.run_id for c in earlier if ships_weights(c)] == ["8b2ba5711080", "dd5bff4529a6"]  # pilots: histories


def test_the_shipped_fig6_set_shows_both_halves_beyond_seed_noise(tmp_path):
    """Pinned from the shipped CIFAR-10 runs: plain-56 trains worse than plain-20 beyond seed noise while it learns
    (the degradation problem), and ResNet-56 ends below ResNet-20 beyond seed noise (the paper's Fig. 6, right)."""
    from core.analysis import fig6
    from core.analysis.budget import setup_key
    from core.runs.reference import cifar10_fig6, install
    from core.runs.store import RunStore

    store = RunStore(tmp_path / "store")
    install(store)
    key = setup_key(cifar10_fig6()[0])
    runs = [r for r in store.list() if r.reference and r.config.dataset == "cifar10" and setup_key(r.config) == key]
    assert sorted((r.config.shortcut, r.config.depth, r.config.seed) for r in runs) == sorted(
        (c.shortcut, c.depth, c.seed) for c in cifar10_fig6() if setup_key(c) == key
    )
    assert all(r.info["n_train"] == 50000 and r.info["n_test"] == 10000 for r in runs)
    halves = fig6.halves(runs)
    plain, resnet = halves["plain"], halves["resnet"]
    assert plain.deep.learned and plain.gap > 0 and plain.beyond_noise, plain
    assert "the degradation of the paper's Fig. 6" in fig6.half_sentence("plain", plain)
    assert resnet.deep.learned and resnet.gap < 0 and resnet.beyond_noise, resnet
    assert "the deeper ResNet ends below the shallower one, as in the paper's Fig. 6" in fig6.half_sentence(
        "resnet", resnet
    )
