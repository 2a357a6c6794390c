"""core.analysis.ood on a tiny untrained network (seconds): the calibrated detector, its file, its words, the
calibration split the reports never use, the Classify page's decisions and ``python -m core classify``."""

import json

import numpy as np
import pytest
import torch
from conftest import tiny_config
from PIL import Image

from core.analysis import ood, queue
from core.cli import run as cli_run
from core.engine.data import SHAPES10_CLASSES, make_builtin
from core.engine.models import build_model
from core.runs.lifecycle import RunStatus
from dashboard.ood_view import ood_note

MEAN, STD = (0.5, 0.5, 0.5), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def tiny():
    torch.manual_seed(0)
    model = build_model("cifar", 8, "A", True, "kaiming").eval()
    x_train, y_train, x_test, _ = (torch.from_numpy(a) for a in make_builtin(0, n_train=300, n_test=600))
    calibration, held_out = ood.calibration_split(len(x_test), 300)
    foreign = {
        "noise": ("uniform-noise images", ood.uniform_noise(40)),
        "photos": ("photo-like scenes", ood.photo_like(40)),
    }
    detector = ood.fit(
        model,
        x_train,
        y_train,
        x_test[torch.from_numpy(calibration)],
        MEAN,
        STD,
        foreign,
        meta={"dataset_title": "Shapes-10"},
    )
    return model, detector, x_test[torch.from_numpy(held_out)]


def test_calibration_split_is_disjoint_fixed_and_reports_use_only_the_rest():
    calibration, held_out = ood.calibration_split(4000)
    assert len(calibration) == 2000 and len(held_out) == 2000
    assert not np.intersect1d(calibration, held_out).size and len(np.union1d(calibration, held_out)) == 4000
    assert np.array_equal(calibration, ood.calibration_split(4000)[0])  # the same images every time
    assert len(ood.calibration_split(1000)[0]) == 500  # never more than half the test set


def test_detector_flags_its_share_of_calibration_images_and_all_noise_and_flat_colours(tiny):
    model, detector, held_out = tiny
    assert detector.meta["calibration_flagged"] <= ood.FLAG_SHARE + 1e-9
    assert detector.bank.shape == (300, 64) and detector.meta["bank"] == 300  # all 300 training images (< BANK)
    genuine = detector.flags(detector.raw_scores(model, held_out, MEAN, STD)).mean()
    assert genuine <= 0.12  # held-out images of its own data set, judged against 300 others: measured 0.04
    for images in (ood.uniform_noise(30, 5), ood.flat_colours(30, 5), ood.drawings(10, 5)):
        assert all(v.flagged for v in ood.judge(detector, model, images, MEAN, STD))
    assert detector.self_check["noise"]["flagged"] == 1.0


def test_detector_file_round_trips_small_and_refuses_damage(tiny):
    model, detector, held_out = tiny
    data = detector.to_bytes()
    assert len(data) < 60_000
    again = ood.Detector.from_bytes(data)
    images = torch.cat([held_out[:20], ood.uniform_noise(5)])
    assert ood.judge(again, model, images, MEAN, STD) == ood.judge(detector, model, images, MEAN, STD)
    with pytest.raises(ValueError):
        ood.Detector.from_bytes(data[:100])


def test_auroc():
    assert ood.auroc([0, 1, 2], [3, 4]) == 1.0 and ood.auroc([3, 4], [0, 1]) == 0.0
    assert ood.auroc([1, 1], [1, 1]) == 0.5 and ood.auroc([0, 2], [1, 3]) == 0.75


def test_wording_for_a_model_that_cannot_separate_and_the_pages_decisions():
    blind = (("CIFAR-10 photos", 0.3),)
    fine = ood.Verdict(False, 40.0, 55.0, 98.0)
    unsure = ood.Verdict(False, 40.0, 55.0, 98.0, blind)
    flagged = ood.Verdict(True, 99.9, 12.0, 98.0, blind)
    text = unsure.sentence("plain-20", "Shapes-10")
    assert "does not mean it looks like Shapes-10" in text and "only 30% of CIFAR-10 photos" in text
    assert "cannot reliably tell" in text and "typical" not in text
    assert "nothing marks this image as unlike" in fine.sentence("ResNet-20", "CIFAR-10")
    said = flagged.sentence("plain-20", "Shapes-10")
    assert "unlike its Shapes-10 training data" in said and "pixel statistics" in said and "features" not in said
    assert [ood_note(v, "m", "Shapes-10", data_here=True).style for v in (flagged, unsure, fine)] == [
        "warning",
        "info",
        "caption",
    ]
    assert ood_note(None, "m", "CIFAR-10", data_here=True).style == "offer"
    assert "not on this machine" in ood_note(None, "m", "CIFAR-10", data_here=False).text
    assert unsure.to_dict()["can_vouch"] is False and fine.to_dict()["can_vouch"] is True


@pytest.fixture
def stored_run(store, tiny):
    """A finished run with the tiny network's weights and its detector in the store."""
    model, detector, _ = tiny
    config = tiny_config()
    store.claim(config)
    store.save_weights(config.run_id, model)
    store.set_info(config.run_id, {"mean": list(MEAN), "std": list(STD), "classes": list(SHAPES10_CLASSES)})
    store.set_status(config.run_id, RunStatus.DONE, metrics={"test_acc": 0.1})
    record = store.get(config.run_id)
    path = ood.cache_path(store, record)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(detector.to_bytes())
    return record


def test_a_fitted_detector_is_a_done_analysis(store, stored_run):
    job = queue.request(store, stored_run, "ood", {})
    assert job.status == RunStatus.DONE and job.key.startswith("ood/") and job.key.endswith(".npz")
    assert isinstance(queue.load_result(store, job), ood.Detector)


def test_classify_command_answers_good_images_and_explains_bad_ones(store, stored_run, tmp_path, capsys):
    good, noise, text, huge = (tmp_path / n for n in ("good.png", "noise.png", "notes.png", "huge.png"))
    Image.new("RGB", (64, 48), (200, 40, 40)).save(good)
    Image.fromarray(ood.uniform_noise(1)[0].permute(1, 2, 0).numpy()).save(noise)
    text.write_text("not an image")
    with open(huge, "wb") as f:
        f.truncate(25_000_000)
    args = ["classify", stored_run.run_id[:8], str(good), str(text), str(noise), str(huge), str(tmp_path / "no.png")]
    with pytest.raises(SystemExit) as exit_:
        cli_run([*args, "--store", str(store.root), "--json"])
    assert exit_.value.code == 1
    out = json.loads(capsys.readouterr().out)
    by_name = {r["image"].rsplit("/", 1)[-1]: r for r in out["images"]}
    assert [c["class"] for c in by_name["good.png"]["top5"]][0] in SHAPES10_CLASSES
    assert len(by_name["good.png"]["top5"]) == 5 and by_name["noise.png"]["verdict"]["flagged"]
    assert by_name["noise.png"]["verdict"]["level"] == "flagged"
    assert "unlike its" in by_name["noise.png"]["verdict"]["sentence"]
    assert "not an image that can be read" in by_name["notes.png"]["error"]
    assert "limit is 20 MB" in by_name["huge.png"]["error"] and "cannot be read" in by_name["no.png"]["error"]
    with pytest.raises(SystemExit):
        cli_run([*args[:4], "--store", str(store.root)])
    said = capsys.readouterr()
    assert "good.png: " in said.out and "notes.png: cannot be classified" in said.out
    assert "1 of 2 images could not be classified" in said.err


def test_a_fit_reports_its_progress_and_stops_where_a_cancel_says(tiny):
    """The worker's reporter sees the images scored so far rise to the total; one that raises (a cancelled job)
    stops the fit at that batch instead of after it."""
    model, _, held_out = tiny
    x_train, y_train, _, _ = (torch.from_numpy(a) for a in make_builtin(0, n_train=300, n_test=10))
    seen = []
    ood.fit(
        model,
        x_train,
        y_train,
        held_out[:100],
        MEAN,
        STD,
        {"noise": ("noise", ood.uniform_noise(20))},
        progress=lambda done, total: seen.append((done, total)),
    )
    assert seen[-1] == (300 + 100 + 20, 420) and all(a[0] < b[0] for a, b in zip(seen, seen[1:]))

    class Cancelled(Exception):
        pass

    def cancel_at_once(done, total):
        raise Cancelled

    with pytest.raises(Cancelled):
        ood.fit(model, x_train, y_train, held_out[:100], MEAN, STD, progress=cancel_at_once)
