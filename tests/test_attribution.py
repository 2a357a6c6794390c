"""core.analysis.attribution: heatmap shapes and ranges, top-k predictions, and how Integrated Gradients
batches its path."""

import numpy as np
import pytest
import torch

from core.analysis import attribution
from core.engine.data import SHAPES10_CLASSES
from core.engine.models import build_model

MEAN, STD = (0.45, 0.45, 0.45), (0.25, 0.25, 0.25)


@pytest.fixture(scope="module")
def resnet20():
    torch.manual_seed(0)
    return build_model("cifar", 20, "A").eval()


@pytest.fixture(scope="module")
def image():
    return torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))


@pytest.mark.parametrize("method", attribution.METHODS)
def test_heatmaps_are_32x32_finite_and_in_unit_range(resnet20, image, method):
    heatmap = attribution.attribute(resnet20, image, MEAN, STD, method, target=3)
    assert heatmap.shape == (32, 32)
    assert np.isfinite(heatmap).all()
    assert heatmap.min() >= 0 and heatmap.max() <= 1


@pytest.mark.parametrize("arch, depth, shortcut", [("cifar", 8, "none"), ("torchvision-resnet18", 18, "B")])
def test_grad_cam_finds_the_last_stage_of_each_architecture(arch, depth, shortcut, image):
    model = build_model(arch, depth, shortcut).eval()
    maps = attribution.explain(model, image, MEAN, STD, methods=("Grad-CAM", "Saliency"))
    assert set(maps) == {"Grad-CAM", "Saliency"}
    assert all(m.shape == (32, 32) and np.isfinite(m).all() for m in maps.values())


def test_predict_topk_is_sorted_and_sums_to_at_most_one(resnet20, image):
    top = attribution.predict_topk(resnet20, image, MEAN, STD, SHAPES10_CLASSES, k=5)
    probs = [p for _, p in top]
    assert len(top) == 5
    assert probs == sorted(probs, reverse=True)
    assert all(0 <= p <= 1 for p in probs) and sum(probs) <= 1 + 1e-6
    assert all(name in SHAPES10_CLASSES for name, _ in top)
    # asking for more classes than exist gives them all, and they sum to one
    everything = attribution.predict_topk(resnet20, image, MEAN, STD, SHAPES10_CLASSES, k=50)
    assert len(everything) == 10 and sum(p for _, p in everything) == pytest.approx(1, abs=1e-5)


def test_predict_topk_rejects_mismatched_class_names(resnet20, image):
    with pytest.raises(ValueError, match="10 outputs"):
        attribution.predict_topk(resnet20, image, MEAN, STD, ("a", "b"))


def test_bad_inputs_are_refused(resnet20, image):
    with pytest.raises(ValueError, match="uint8"):
        attribution.attribute(resnet20, image.float(), MEAN, STD, "Saliency", 0)
    with pytest.raises(ValueError, match="method"):
        attribution.attribute(resnet20, image, MEAN, STD, "LIME", 0)


def test_seen_image_is_the_32x32_rgb_the_model_got(image):
    seen = attribution.seen_image(image)
    assert seen.shape == (32, 32, 3) and seen.dtype == np.uint8
    assert (seen[..., 0] == image[0].numpy()).all()


def test_scale_for_display_handles_all_zero_and_nan():
    assert (attribution.scale_for_display(np.zeros((32, 32))) == 0).all()
    scaled = attribution.scale_for_display(np.array([[np.nan, 1.0], [2.0, -1.0]]))
    assert np.isfinite(scaled).all() and scaled.max() == 1 and scaled.min() == 0


def test_integrated_gradients_takes_its_path_in_one_batch(resnet20, image):
    """Its speed comes from this: IG_STEPS points of the path in one forward and backward pass, not IG_STEPS passes.
    (How long that takes is measured by `python -m bench.attribution`, beside one gradient pass.)"""
    batches = []
    hook = resnet20.register_forward_hook(lambda module, inputs, output: batches.append(inputs[0].shape[0]))
    try:
        attribution.attribute(resnet20, image, MEAN, STD, "Integrated Gradients", 0)
    finally:
        hook.remove()
    assert batches == [attribution.IG_STEPS]


def test_the_attribution_benchmark_reports_each_method_beside_one_gradient_pass():
    from bench.attribution import BUDGET_S, measure

    report = measure(depths=(8,), repeats=1, methods=("Saliency", "Integrated Gradients"), log=lambda m: None)
    (row,) = report["results"]
    base = row["baseline_forward_backward_s"]["median"]
    assert base > 0 and set(row["methods"]) == {"Saliency", "Integrated Gradients"}
    for numbers in row["methods"].values():
        assert numbers["median_s"] > 0 and numbers["x_baseline"] == numbers["median_s"] / base
        assert numbers["within_budget"] == (numbers["median_s"] <= BUDGET_S)
    assert report["setup"]["ig_steps"] == attribution.IG_STEPS and report["device"]
