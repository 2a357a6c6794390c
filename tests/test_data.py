import io
import os
import pickle
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageFile, features

from core.engine import data
from core.engine.data import (
    CIFAR10_CLASSES,
    DataUnavailable,
    ImageError,
    augment,
    balanced_subset,
    load_cifar10_arrays,
    load_dataset,
    make_builtin,
    normalize,
    preprocess_image,
    resolve_data_dir,
)

# ------------------------------------------------------------------------------------ Shapes-10


def test_builtin_is_deterministic_balanced_and_well_formed():
    a = make_builtin(seed=3, n_train=200, n_test=50)
    b = make_builtin(seed=3, n_train=200, n_test=50)
    c = make_builtin(seed=4, n_train=200, n_test=50)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])
    x_tr, y_tr, x_te, y_te = a
    assert x_tr.shape == (200, 3, 32, 32) and x_te.shape == (50, 3, 32, 32)
    assert x_tr.dtype == np.uint8 and y_tr.dtype == np.int64
    assert np.bincount(y_tr, minlength=10).tolist() == [20] * 10
    assert np.bincount(y_te, minlength=10).tolist() == [5] * 10
    assert not np.array_equal(x_tr[:50], x_te)  # train and test come from different streams
    assert x_tr.std() > 20  # images, not blanks


def test_builtin_is_not_solvable_by_colour_or_a_pixel_template():
    x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in make_builtin(seed=1, n_train=3000, n_test=1000))

    def nearest_mean_accuracy(f_tr, f_te):
        means = torch.stack([f_tr[y_tr == k].mean(0) for k in range(10)])
        return (torch.cdist(f_te, means).argmin(1) == y_te).float().mean().item()

    pixels = nearest_mean_accuracy(x_tr.flatten(1).float(), x_te.flatten(1).float())
    colour = nearest_mean_accuracy(x_tr.float().mean((2, 3)), x_te.float().mean((2, 3)))
    assert pixels < 0.5, pixels
    assert colour < 0.3, colour


def test_builtin_cache_is_used_and_a_corrupt_one_regenerated(tmp_path, monkeypatch):
    fake = (
        np.zeros((20000, 3, 32, 32), np.uint8),
        np.zeros(20000, np.int64),
        np.ones((4000, 3, 32, 32), np.uint8),
        np.zeros(4000, np.int64),
    )
    calls = []
    monkeypatch.setattr(data, "make_builtin", lambda seed: calls.append(seed) or fake)
    path = tmp_path / f"shapes10-v{data.BUILTIN_VERSION}-seed7.npz"
    path.write_bytes(b"not a zip file")
    out = data._builtin_cached(7, str(tmp_path))
    assert calls == [7] and out[2].max() == 1
    assert [p.name for p in tmp_path.iterdir()] == [path.name]  # rewritten in place, no temporary left
    out = data._builtin_cached(7, str(tmp_path))
    assert calls == [7] and out[0].shape == (20000, 3, 32, 32)  # read back, not regenerated


def test_load_builtin_dataset_and_balanced_subsets():
    ds = load_dataset("builtin")
    assert ds.name == "builtin" and "Shapes-10" in ds.title and ds.description
    assert len(ds.classes) == 10 and len(set(ds.classes)) == 10
    assert ds.x_train.shape == (20000, 3, 32, 32) and ds.x_train.dtype == torch.uint8
    assert ds.y_test.shape == (4000,) and ds.y_test.dtype == torch.int64
    x = ds.x_train.float() / 255
    np.testing.assert_allclose(ds.mean, x.mean((0, 2, 3)).numpy(), atol=1e-5)
    np.testing.assert_allclose(ds.std, x.std((0, 2, 3), unbiased=False).numpy(), atol=1e-5)

    sub = load_dataset("builtin", subset=1000, test_subset=200, seed=5)
    assert torch.bincount(sub.y_train, minlength=10).tolist() == [100] * 10
    assert torch.bincount(sub.y_test, minlength=10).tolist() == [20] * 10
    again = load_dataset("builtin", subset=1000, test_subset=200, seed=5)
    assert torch.equal(sub.x_train, again.x_train) and torch.equal(sub.y_test, again.y_test)
    other = load_dataset("builtin", subset=1000, seed=6)
    assert not torch.equal(sub.x_train, other.x_train)
    np.testing.assert_allclose(sub.mean, (sub.x_train.float() / 255).mean((0, 2, 3)).numpy(), atol=1e-5)
    sub.x_train[0] = 0  # tensors are the caller's own: the cache is unharmed
    assert load_dataset("builtin", subset=1000, seed=5).x_train[0].any()


def test_balanced_subset_is_nested_and_copes_with_uneven_classes():
    labels = np.array([0] * 5 + [1] * 100 + [2] * 50)
    pick = balanced_subset(labels, 20, seed=0)
    assert np.bincount(labels[pick], minlength=3).tolist() in ([5, 8, 7], [5, 7, 8])
    assert set(balanced_subset(labels, 10, seed=0)) <= set(balanced_subset(labels, 40, seed=0))
    assert len(set(pick)) == 20


@pytest.mark.parametrize(
    "field,value",
    [
        ("subset", 0),
        ("subset", -3),
        ("subset", 20001),
        ("subset", 2.5),
        ("subset", True),
        ("subset", "100"),
        ("test_subset", 4001),
    ],
)
def test_subset_validation(field, value):
    with pytest.raises(ValueError, match=field) as err:
        load_dataset("builtin", **{field: value})
    assert "from 1 to" in str(err.value) and ("20000" in str(err.value) or "4000" in str(err.value))


def test_unknown_dataset():
    with pytest.raises(ValueError, match="cifar10"):
        load_dataset("mnist")


# ---------------------------------------------------------------------------------- augment


def coordinate_batch(n):
    """Every pixel says where it came from: channel 0 its row + 1, channel 1 its column + 1,
    channel 2 its image; zero then marks padding."""
    rows = torch.arange(1, 33).view(32, 1).expand(32, 32)
    x = torch.stack([rows, rows.T, torch.zeros(32, 32, dtype=torch.long)]).repeat(n, 1, 1, 1)
    x[:, 2] = torch.arange(n).view(n, 1, 1) % 250 + 1
    return x.to(torch.uint8)


def crop_candidates(img):
    padded = torch.nn.functional.pad(img, (4, 4, 4, 4))
    crops = [padded[:, i : i + 32, j : j + 32] for i in range(9) for j in range(9)]
    return torch.stack(crops + [c.flip(-1) for c in crops])  # [162, C, 32, 32]: 81 shifts, then flipped


def test_augment_outputs_are_shifted_and_flipped_crops_of_their_own_image():
    n = 2000
    x = coordinate_batch(n)
    out = augment(x, torch.Generator().manual_seed(0))
    assert out.shape == x.shape and out.dtype == torch.uint8 and out.device == x.device
    cands = crop_candidates(x[0])[:, :2]
    which = []
    for i in range(0, n, 250):
        match = (out[i : i + 250, None, :2] == cands[None]).flatten(2).all(2)  # [b, 162]
        assert (match.sum(1) == 1).all()
        which.append(match.float().argmax(1))
    which = torch.cat(which)
    inside = out[:, 0] > 0
    assert torch.equal(out[:, 2][inside], x[:, 2][inside])  # each output is built from its own image
    assert (out[:, 2][~inside] == 0).all()  # padding is zeros
    flipped = (which >= 81).float().mean().item()
    assert 0.45 < flipped < 0.55, flipped
    assert len(torch.unique(which % 81)) == 81  # every shift in -4..4 x -4..4 occurs
    assert (which % 81 == 40).float().mean() < 0.05  # most images do move


def test_augment_is_reproducible_with_a_generator_and_leaves_input_alone():
    x = torch.randint(0, 256, (64, 3, 32, 32), dtype=torch.uint8)
    before = x.clone()
    a = augment(x, torch.Generator().manual_seed(1))
    b = augment(x, torch.Generator().manual_seed(1))
    c = augment(x, torch.Generator().manual_seed(2))
    assert torch.equal(a, b) and not torch.equal(a, c)
    assert torch.equal(x, before)
    for k in range(0, 64, 16):  # random content too: each output is a crop of its own padded image
        assert (crop_candidates(x[k]) == a[k]).flatten(1).all(1).any()


def augment_by_advanced_indexing(x, generator):
    """augment as first written (one 4-D advanced-indexing gather): the reference for the faster one."""
    n, c, h, w = x.shape
    oy, ox, flip = (torch.randint(0, high, (n,), generator=generator) for high in (9, 9, 2))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    rows = oy[:, None] + torch.arange(h)
    cols = ox[:, None] + torch.arange(w)
    cols = torch.where(flip.bool()[:, None], cols.flip(1), cols)
    image, channel = torch.arange(n), torch.arange(c)
    return padded[
        image[:, None, None, None], channel[None, :, None, None], rows[:, None, :, None], cols[:, None, None, :]
    ]


@pytest.mark.parametrize("shape", [(128, 3, 32, 32), (5, 1, 7, 11), (1, 3, 32, 32)])
def test_augment_draws_and_returns_exactly_what_the_advanced_indexing_version_did(shape):
    # Seeded runs reproduce across the speed-up: the same draws from the generator, the same pixels out.
    x = torch.randint(0, 256, shape, dtype=torch.uint8, generator=torch.Generator().manual_seed(3))
    for seed in range(5):
        g_new, g_old = torch.Generator().manual_seed(seed), torch.Generator().manual_seed(seed)
        assert torch.equal(augment(x, g_new), augment_by_advanced_indexing(x, g_old))
        assert torch.equal(g_new.get_state(), g_old.get_state())  # the generator is left in the same state
    cl = x.contiguous(memory_format=torch.channels_last)  # any memory layout in, the same pixels out
    old = augment_by_advanced_indexing(x, torch.Generator().manual_seed(0))
    assert torch.equal(augment(cl, torch.Generator().manual_seed(0)), old)


# -------------------------------------------------------------------------------- normalize


def test_normalize_matches_the_formula_and_standardizes():
    x = torch.randint(0, 256, (16, 3, 32, 32), dtype=torch.uint8)
    mean = tuple((x.float() / 255).mean((0, 2, 3)).tolist())
    std = tuple((x.float() / 255).std((0, 2, 3), unbiased=False).tolist())
    out = normalize(x, mean, std)
    assert out.dtype == torch.float32 and out.shape == x.shape
    assert out.is_contiguous(memory_format=torch.channels_last)
    np.testing.assert_allclose(out.mean((0, 2, 3)).numpy(), 0, atol=1e-4)
    np.testing.assert_allclose(out.std((0, 2, 3), unbiased=False).numpy(), 1, atol=1e-4)
    assert out[3, 1, 5, 7].item() == pytest.approx((x[3, 1, 5, 7].item() / 255 - mean[1]) / std[1], rel=1e-5)
    plain = normalize(x, (0.5, 0.5, 0.5), (0.25, 0.25, 0.25), channels_last=False)
    assert plain.is_contiguous()
    assert plain[0, 0, 0, 0].item() == pytest.approx((x[0, 0, 0, 0].item() / 255 - 0.5) / 0.25, rel=1e-5)
    assert normalize(x[0], mean, std).shape == (3, 32, 32)  # a single image works too


# ------------------------------------------------------------------------------ images


def encode(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_header(width, height):
    """A PNG that only declares its size: enough to test the guards without any real pixels."""

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def centre(t):
    return t[:, 12:20, 12:20].float().mean((1, 2)).tolist()


def close(rgb, want, tol=12):
    return all(abs(a - b) <= tol for a, b in zip(rgb, want))


def test_rgba_png_is_composited_over_white():
    im = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    im.paste((200, 0, 0, 255), (0, 0, 32, 64))
    t, small = preprocess_image(encode(im, "PNG"))
    assert t.shape == (3, 32, 32) and t.dtype == torch.uint8
    assert small.size == (32, 32) and small.mode == "RGB"
    assert torch.equal(t, torch.from_numpy(np.array(small)).permute(2, 0, 1))
    assert close(t[:, 16, 4].tolist(), (200, 0, 0)) and close(t[:, 16, 28].tolist(), (255, 255, 255))


@pytest.mark.parametrize(
    "mode,fmt,colour,want",
    [
        ("L", "PNG", 100, (100, 100, 100)),
        ("P", "PNG", None, (30, 160, 90)),
        ("CMYK", "JPEG", (0, 255, 255, 0), (255, 0, 0)),
        ("RGB", "BMP", (10, 20, 230), (10, 20, 230)),
        ("RGB", "JPEG", (40, 200, 40), (40, 200, 40)),
    ],
)
def test_colour_modes_become_rgb(mode, fmt, colour, want):
    if mode == "P":
        im = Image.new("RGB", (48, 40), want).convert("P")
    else:
        im = Image.new(mode, (48, 40), colour)
    t, small = preprocess_image(encode(im, fmt))
    assert small.mode == "RGB" and close(centre(t), want, tol=16), centre(t)


def test_16_bit_greyscale_png_is_scaled_not_clipped():
    arr = np.full((40, 40), 32896, np.uint16)  # 128 * 257: mid grey in 16 bits
    raw = encode(Image.fromarray(arr), "PNG")
    assert Image.open(io.BytesIO(raw)).mode.startswith("I")
    t, _ = preprocess_image(raw)
    assert close(centre(t), (128, 128, 128), tol=1)


def test_first_frame_of_an_animated_gif_with_transparency():
    frames = [Image.new("RGB", (40, 40), c) for c in ((255, 0, 0), (0, 0, 255))]
    t, _ = preprocess_image(encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=50))
    assert close(centre(t), (255, 0, 0))
    clear = Image.new("P", (40, 40), 0)
    clear.putpalette([9, 9, 9] + [0, 0, 0] * 255)
    t, _ = preprocess_image(encode(clear, "GIF", transparency=0))
    assert close(centre(t), (255, 255, 255))


@pytest.mark.skipif(not features.check("webp"), reason="this PIL was built without WebP")
def test_webp_including_animated():
    frames = [Image.new("RGB", (40, 40), c) for c in ((0, 180, 0), (180, 0, 0))]
    t, _ = preprocess_image(encode(frames[0], "WEBP", lossless=True))
    assert close(centre(t), (0, 180, 0), tol=2)
    t, _ = preprocess_image(encode(frames[0], "WEBP", save_all=True, append_images=frames[1:], lossless=True))
    assert close(centre(t), (0, 180, 0), tol=2)


def test_exif_orientation_is_applied():
    im = Image.new("RGB", (64, 32), (255, 0, 0))
    im.paste((0, 0, 255), (32, 0, 64, 32))  # left red, right blue
    exif = Image.Exif()
    exif[0x0112] = 6  # display rotated 90 degrees clockwise: left becomes top
    t, _ = preprocess_image(encode(im, "JPEG", exif=exif, quality=95))
    assert close(t[:, 3, 16].tolist(), (255, 0, 0), tol=30) and close(t[:, 28, 16].tolist(), (0, 0, 255), tol=30)


def test_shorter_side_is_resized_then_centre_cropped():
    im = Image.new("RGB", (300, 100), (0, 255, 0))
    im.paste((255, 0, 0), (0, 0, 90, 100))  # outside the centre square: cropped away
    im.paste((255, 0, 0), (210, 0, 300, 100))
    t, small = preprocess_image(im)
    assert small.size == (32, 32) and (t[0] < 60).all() and (t[1] > 200).all()
    assert im.size == (300, 100) and im.mode == "RGB"  # the caller's image is untouched
    tiny, _ = preprocess_image(Image.new("L", (5, 9), 77))  # upscaled
    assert tiny.shape == (3, 32, 32) and (tiny == 77).all()


@pytest.mark.parametrize(
    "raw,message",
    [
        (b"", "empty"),
        (b"hello, this is a text file and not a picture\n" * 10, "not an image"),
        (png_header(20000, 20000), "megapixels"),  # 400 MP: past PIL's own bomb limit too
        (png_header(8000, 8000), "megapixels"),  # 64 MP: over our 50 MP limit, under PIL's
    ],
)
def test_bad_inputs_give_clear_image_errors(raw, message):
    with pytest.raises(ImageError, match=message):
        preprocess_image(raw)


def test_truncated_png_is_reported():
    noise = np.random.default_rng(0).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    raw = encode(Image.fromarray(noise), "PNG")
    with pytest.raises(ImageError, match="truncated or corrupt"):
        preprocess_image(raw[: len(raw) // 2])


def test_size_limits_and_pil_global_state():
    state = (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters))
    with pytest.raises(ImageError, match="limit is 0.001 MB"):
        preprocess_image(encode(Image.new("RGB", (50, 50)), "BMP"), max_bytes=1000)
    with pytest.raises(ImageError, match="megapixels"):
        preprocess_image(encode(Image.new("RGB", (50, 50)), "PNG"), max_pixels=100)
    with pytest.raises(ImageError, match="too many pixels"):  # PIL's bomb warning (100 MP) becomes an error
        preprocess_image(png_header(10000, 10000), max_pixels=10**9)
    with pytest.raises(ImageError):
        preprocess_image(12345)
    assert (Image.MAX_IMAGE_PIXELS, ImageFile.LOAD_TRUNCATED_IMAGES, list(warnings.filters)) == state


# ---------------------------------------------------------------------------------- CIFAR-10


def write_fake_cifar(root: Path, n=20, provenance=False):
    """A tiny copy in the real format: protocol-2 pickles of dicts with bytes keys."""
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for name in (*data.CIFAR_TRAIN_FILES, data.CIFAR_TEST_FILE):
        batch = {b"data": rng.integers(0, 256, (n, 3072), dtype=np.uint8), b"labels": [i % 10 for i in range(n)]}
        (root / name).write_bytes(pickle.dumps(batch, protocol=2))
    if provenance:
        (root.parent / "PROVENANCE.md").write_text("rebuilt")


def test_reads_a_cifar_directory_and_its_parent(tmp_path):
    write_fake_cifar(tmp_path / "plain" / "cifar-10-batches-py")
    ds = load_dataset("cifar10", data_dir=str(tmp_path / "plain"))
    assert ds.title == "CIFAR-10" and ds.classes == CIFAR10_CLASSES
    assert ds.x_train.shape == (100, 3, 32, 32) and ds.x_test.shape == (20, 3, 32, 32)
    x_tr, y_tr, _, _ = load_cifar10_arrays(tmp_path / "plain" / "cifar-10-batches-py")
    raw = pickle.loads((tmp_path / "plain" / "cifar-10-batches-py" / "data_batch_1").read_bytes())
    np.testing.assert_array_equal(x_tr[:20].reshape(20, -1), raw[b"data"])  # R plane, G plane, B plane
    assert torch.equal(ds.y_train, torch.from_numpy(y_tr.copy()))

    write_fake_cifar(tmp_path / "rebuilt" / "cifar-10-batches-py", provenance=True)
    assert load_dataset("cifar10", data_dir=str(tmp_path / "rebuilt")).title == "CIFAR-10 (rebuilt copy)"


def test_missing_or_corrupt_cifar_names_the_file_and_the_fix(tmp_path):
    with pytest.raises(DataUnavailable) as err:
        load_dataset("cifar10", data_dir=str(tmp_path))
    assert "data_batch_1" in str(err.value) and "--data-dir" in str(err.value) and "RESNET_LAB_DATA" in str(err.value)
    with pytest.raises(DataUnavailable, match="not found"):
        load_dataset("cifar10", data_dir=str(tmp_path / "nowhere"))
    write_fake_cifar(tmp_path)
    (tmp_path / "data_batch_3").write_bytes(b"\x80\x02garbage")
    with pytest.raises(DataUnavailable, match="corrupt.*data_batch_3"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_a_pickle_that_would_run_code_is_refused(tmp_path):
    write_fake_cifar(tmp_path)
    (tmp_path / "test_batch").write_bytes(pickle.dumps({b"data": os.getcwd, b"labels": []}, protocol=2))
    with pytest.raises(DataUnavailable, match="test_batch"):
        load_dataset("cifar10", data_dir=str(tmp_path))


def test_without_a_directory_it_downloads_or_explains(tmp_path, monkeypatch):
    import torchvision

    def offline(*args, **kwargs):
        raise OSError("network is unreachable")

    monkeypatch.delenv("RESNET_LAB_DATA", raising=False)
    monkeypatch.setattr(torchvision.datasets, "CIFAR10", offline)
    with pytest.raises(DataUnavailable) as err:
        load_dataset("cifar10", cache_dir=str(tmp_path))
    for part in ("--data-dir", "RESNET_LAB_DATA", "cifar-10-batches-py", "unreachable"):
        assert part in str(err.value)
    write_fake_cifar(tmp_path / "cifar-10-batches-py")  # a finished earlier download is read directly
    assert load_dataset("cifar10", cache_dir=str(tmp_path)).x_train.shape[0] == 100


def test_resolve_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("RESNET_LAB_DATA", str(tmp_path))
    assert resolve_data_dir("/x/y") == Path("/x/y")
    assert resolve_data_dir(None) == tmp_path
    monkeypatch.delenv("RESNET_LAB_DATA")
    assert resolve_data_dir(None) is None


@pytest.fixture(scope="module")
def cifar_env_dir():
    path = os.environ.get("RESNET_LAB_DATA")
    if not path:
        pytest.skip(
            "RESNET_LAB_DATA not set: point it at a CIFAR-10 directory (holding cifar-10-batches-py) "
            "to test loading the real data"
        )
    return Path(path)


def test_real_cifar10_from_the_environment(cifar_env_dir):
    ds = load_dataset("cifar10")
    assert ds.x_train.shape == (50000, 3, 32, 32) and ds.x_test.shape == (10000, 3, 32, 32)
    assert ds.x_train.dtype == torch.uint8 and ds.y_train.dtype == torch.int64
    assert int(ds.y_train.min()) == 0 and int(ds.y_train.max()) == 9
    assert torch.bincount(ds.y_train).tolist() == [5000] * 10 and torch.bincount(ds.y_test).tolist() == [1000] * 10
    rebuilt = any((d / "PROVENANCE.md").exists() for d in (cifar_env_dir, cifar_env_dir / "cifar-10-batches-py"))
    assert ds.title == ("CIFAR-10 (rebuilt copy)" if rebuilt else "CIFAR-10")
    np.testing.assert_allclose(ds.mean, (0.491, 0.482, 0.447), atol=0.01)  # the well-known CIFAR-10 statistics
    np.testing.assert_allclose(ds.std, (0.247, 0.243, 0.262), atol=0.01)
    hits = data._read_cifar.cache_info().hits
    sub = load_dataset("cifar10", subset=1000, test_subset=500, seed=1)
    assert data._read_cifar.cache_info().hits == hits + 1  # decoded once per process
    assert torch.bincount(sub.y_train).tolist() == [100] * 10 and torch.bincount(sub.y_test).tolist() == [50] * 10
