"""Looking inside stored runs: the lesion study, loss landscapes and feature maps for one run, with
their disk caches under the store, and the choice of a matched plain/ResNet pair. The commands
(``python -m core lesion|landscape|features``) are in ``core.cli.analyses``.
"""

from __future__ import annotations

from pathlib import Path

from ..engine.files import atomic_write_bytes
from ..runs.lifecycle import is_done
from ..runs.reference import REFERENCE_DIR
from ..runs.store import RunRecord, RunStore, StoreError
from ..runs.verdict import record_verdict
from . import confusion, landscape, lesion
from .compare import setup_key
from .inputs import test_images, train_batch

LESION_SHORTCUTS = tuple(lesion.LESION_RULES)


SHIPPED_RESULTS = REFERENCE_DIR / "results"  # precomputed results for the shipped runs, named as in a store's cache


def cache_key(store: RunStore, record: RunRecord) -> str:
    """The run id and the identity of its weights (a hash of the tensors): a retrained run (same id) is not served
    stale results, and the same weights installed anywhere find the same results."""
    return f"{record.run_id}-w{store.weights_digest(record.run_id)}"


def with_shipped(store: RunStore, path: Path) -> Path:
    """``path`` in the store's cache; when it is absent and a result of the same name ships with the app (the same
    run, weights and settings), that result is installed there first."""
    if not path.exists():
        shipped = SHIPPED_RESULTS / path.relative_to(store.root)
        if shipped.is_file():
            atomic_write_bytes(path, shipped.read_bytes())
    return path


def lesion_path(store: RunStore, record: RunRecord, *, images: int, k_images: int, draws: int, seed: int = 0) -> Path:
    """Where the run's lesion study with these settings is cached (a shipped one installed there first)."""
    return with_shipped(store, lesion.cache_path(store.root, cache_key(store, record), images, k_images, draws, seed))


def landscape_path(
    store: RunStore, record: RunRecord, *, kind: str, seed: int, steps: int, span: float, batch: int
) -> Path:
    """Where the run's landscape with these settings is cached (a shipped one installed there first)."""
    return with_shipped(
        store, landscape.cache_path(store.root, cache_key(store, record), kind, seed, steps, span, batch)
    )


def check_lesionable(store: RunStore, record: RunRecord) -> None:
    c = record.config
    if c.arch != "cifar" or c.shortcut not in LESION_SHORTCUTS:
        raise lesion.LesionError(
            f"{c.model_name}: only the paper's CIFAR plain nets and ResNets (A or B) can be looked inside here"
        )
    if not store.weights_path(record.run_id).exists():
        raise StoreError(f"run {record.run_id} ({record.config.label}) has no saved weights (status: {record.status})")


def lesion_for_run(
    store: RunStore,
    record: RunRecord,
    *,
    images: int = 500,
    k_images: int = 200,
    draws: int = 3,
    seed: int = 0,
    data_dir: str | None = None,
    progress=None,
) -> tuple[lesion.LesionResult, bool]:
    """The run's lesion study from the disk cache under the store, else computed and cached; and whether cached."""
    check_lesionable(store, record)
    path = lesion_path(store, record, images=images, k_images=k_images, draws=draws, seed=seed)
    if (hit := lesion.read_cached(path)) is not None:
        return hit, True
    model = store.load_model(record.run_id)
    x, y, _ = test_images(record, images, data_dir, str(store.datasets_dir))
    result = lesion.lesion_study(
        model,
        x,
        y,
        run_id=record.run_id,
        model_label=record.config.model_name,
        k_images=k_images,
        draws=draws,
        seed=seed,
        progress=progress,
    )
    lesion.write_cached(path, result)
    return result, False


def landscape_for_run(
    store: RunStore,
    record: RunRecord,
    *,
    kind: str = "1d",
    seed: int = 0,
    steps: int = 21,
    span: float = 1.0,
    batch: int = 128,
    data_dir: str | None = None,
    progress=None,
) -> landscape.Landscape:
    """The run's 1-D slice or 2-D plane from the disk cache under the store, else computed and cached."""
    check_lesionable(store, record)
    landscape.check_request(steps, span, batch)
    landscape_path(store, record, kind=kind, seed=seed, steps=steps, span=span, batch=batch)

    def load():
        x, y = train_batch(record, batch, data_dir, str(store.datasets_dir))
        return store.load_model(record.run_id), x, y, record.config.model_name

    return landscape.cached_compute(
        store.root,
        record.run_id,
        load,
        kind=kind,
        seed=seed,
        steps=steps,
        span=span,
        batch=batch,
        progress=progress,
        key=cache_key(store, record),
    )


def cached_landscape(
    store: RunStore, record: RunRecord, *, kind: str, seed: int, steps: int, span: float, batch: int
) -> landscape.Landscape | None:
    """The landscape if it is already on disk, else None (nothing is computed)."""
    check_lesionable(store, record)
    return landscape.read_cached(
        landscape_path(store, record, kind=kind, seed=seed, steps=steps, span=span, batch=batch)
    )


def cached_lesion(
    store: RunStore, record: RunRecord, *, images: int, k_images: int, draws: int, seed: int = 0
) -> lesion.LesionResult | None:
    check_lesionable(store, record)
    return lesion.read_cached(lesion_path(store, record, images=images, k_images=k_images, draws=draws, seed=seed))


def matched_pair(
    records: list[RunRecord],
    depth: int | None = 56,
    learned_first: bool = False,
    prefer_dataset: str | None = None,
) -> tuple[RunRecord | None, RunRecord | None]:
    """A finished plain net and the ResNet of the same depth trained the same way (setup and seed), option A
    first (exactly the plain net's parameters); shipped reference runs first, then the deepest depth
    when ``depth`` has no pair. With ``learned_first``, a pair in which both networks left chance comes
    before any pair with a network that did not (a lesion needs something to lose). (None, None) when no
    such pair is stored. Among pairs equal on depth and shipping, one on ``prefer_dataset`` (e.g. CIFAR-10 where its
    images are on this machine) comes first, then one in which both networks learned."""
    done = [r for r in records if is_done(r) and r.config.arch == "cifar"]
    pairs = []
    for plain in (r for r in done if r.config.shortcut == "none"):
        for res in (r for r in done if r.config.shortcut in ("A", "B")):
            if (
                res.config.depth == plain.config.depth
                and setup_key(res.config) == setup_key(plain.config)
                and res.config.seed == plain.config.seed
            ):
                pairs.append((plain, res))
    if not pairs:
        return None, None

    def stuck(pair):
        return any(record_verdict(r) is not None for r in pair)

    pairs.sort(
        key=lambda p: (
            learned_first and stuck(p),
            p[0].config.depth != depth,
            not (p[0].reference and p[1].reference),
            p[0].config.dataset != prefer_dataset,
            stuck(p),
            p[1].config.shortcut != "A",
            -p[0].config.depth,
            p[0].config.seed,
            -p[0].updated,
        )
    )
    return pairs[0]


# ------------------------------------------------------------------------------------- confusion matrix


def test_size(record: RunRecord) -> int:
    """The number of test images of the run's data set (all of them: the confusion matrix uses every one)."""
    from ..engine.config import DATASET_SIZES

    return DATASET_SIZES[record.config.dataset][1]


def confusion_path(store: RunStore, record: RunRecord) -> Path:
    """Where the run's confusion matrix on every test image is cached (a shipped one installed there first)."""
    return with_shipped(store, confusion.cache_path(store.root, cache_key(store, record), test_size(record)))


def cached_confusion(store: RunStore, record: RunRecord) -> confusion.Confusion | None:
    """The run's confusion matrix if it was computed (or shipped), without computing it; None otherwise."""
    if not store.weights_path(record.run_id).exists():
        return None
    return confusion.read_cached(confusion_path(store, record))


def confusion_for_run(
    store: RunStore, record: RunRecord, data_dir: str | None = None, progress=None
) -> tuple[confusion.Confusion, bool]:
    """The run's confusion matrix from the disk cache under the store, else computed on every test image of its
    data set and cached; and whether it was cached."""
    from ..engine.data import load_dataset, normalize
    from .inputs import normalisation

    if not store.weights_path(record.run_id).exists():
        raise StoreError(f"run {record.run_id} ({record.config.label}) has no saved weights (status: {record.status})")
    path = confusion_path(store, record)
    if (hit := confusion.read_cached(path)) is not None:
        return hit, True
    ds = load_dataset(record.config.dataset, data_dir, cache_dir=str(store.datasets_dir))
    images = normalize(ds.x_test, *normalisation(record, ds), channels_last=False)
    result = confusion.compute(
        store.load_model(record.run_id),
        images,
        ds.y_test,
        list(ds.classes),
        run_id=record.run_id,
        model_label=record.config.model_name,
        dataset=ds.title,
        progress=progress,
    )
    confusion.write_cached(path, result)
    return result, False
