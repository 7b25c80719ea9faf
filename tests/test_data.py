import os
import tarfile
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from unlearnlib import data as D
from unlearnlib.data import Dataset, DatasetNotFoundError, Split, load_dataset, make_split


def _fake(name="cifar10", n_train=60, n_test=20, classes=3, size=8, channels=3, seed=0):
    rng = np.random.default_rng(seed)
    return D.Dataset(name, rng.integers(0, 256, (n_train, size, size, channels), dtype=np.uint8),
                     np.arange(n_train) % classes, rng.integers(0, 256, (n_test, size, size, channels), dtype=np.uint8),
                     np.arange(n_test) % classes, tuple(f"c{i}" for i in range(classes)))


# --------------------------------------------------------------------------- splits

@pytest.mark.parametrize("scheme,forget", [("random", 0.1), ("random", 37), ("class", 3), ("class", [1, 7])])
def test_split_disjoint_complete_deterministic(digits, scheme, forget):
    s = make_split(digits, scheme, forget, val_size=100, seed=3)
    parts = [s.forget, s.retain, s.val]
    allidx = np.concatenate(parts)
    assert len(allidx) == len(np.unique(allidx)) == len(digits.y_train)  # disjoint and complete
    assert len(np.intersect1d(s.test, s.test_forget)) == 0
    assert len(s.test) + len(s.test_forget) == len(digits.y_test)
    again = make_split(digits, scheme, forget, val_size=100, seed=3)
    assert all(np.array_equal(getattr(s, k), getattr(again, k)) for k in ("forget", "retain", "val", "test"))
    other = make_split(digits, scheme, forget, val_size=100, seed=4)
    assert not np.array_equal(s.val, other.val)
    assert s.fingerprint() == again.fingerprint() != other.fingerprint()
    with pytest.raises(ValueError):
        s.forget[0] = 1  # read-only


def test_random_fraction_and_class_membership(digits):
    s = make_split(digits, "random", 0.1, val_size=0.1, seed=0)
    assert len(s.val) == round(0.1 * len(digits.y_train))
    assert len(s.forget) == round(0.1 * (len(digits.y_train) - len(s.val)))
    c = make_split(digits, "class", [3], val_size=100, seed=0)
    assert set(digits.y_train[c.forget]) == {3}
    assert 3 not in set(digits.y_train[c.retain])
    assert set(digits.y_test[c.test_forget]) == {3} and 3 not in set(digits.y_test[c.test])


def test_validation_takes_the_same_share_of_every_class():
    """Unlearn-Sparse: validation = 10 % of each class of the training set (CIFAR-10: 500 per class)."""
    y = np.repeat(np.arange(10), 5000)  # CIFAR-10's training labels, 5,000 per class
    ds = Dataset("toy", np.zeros((len(y), 2, 2, 1), np.uint8), y, np.zeros((20, 2, 2, 1), np.uint8),
                 np.repeat(np.arange(10), 2), tuple(str(c) for c in range(10)), "memory")
    s = make_split(ds, "class", 3, val_size=5000, seed=0)
    assert np.array_equal(np.bincount(y[s.val], minlength=10), np.full(10, 500))
    assert len(s.forget) == 4500
    frac = make_split(ds, "random", 0.1, val_size=0.1, seed=1)
    assert np.array_equal(np.bincount(y[frac.val], minlength=10), np.full(10, 500))
    # unequal classes: floor of each share, the remainder to the largest fractions, exactly n in all
    y2 = np.array([0] * 7 + [1] * 2 + [2] * 1)
    ds2 = Dataset("toy2", np.zeros((10, 2, 2, 1), np.uint8), y2, np.zeros((3, 2, 2, 1), np.uint8), np.arange(3),
                  ("a", "b", "c"), "memory")
    s2 = make_split(ds2, "random", 1, val_size=5, seed=0)  # shares 3.5, 1, 0.5: floors 3, 1, 0, one more to class 0
    assert np.array_equal(np.bincount(y2[s2.val], minlength=3), [4, 1, 0])
    plain = make_split(ds, "class", 3, val_size=5000, seed=0, stratify_val=False)
    assert len(plain.val) == 5000 and not np.array_equal(np.bincount(y[plain.val], minlength=10), np.full(10, 500))


def test_split_subsets_and_save_load(digits, tmp_path):
    s = make_split(digits, "random", 0.2, val_size=20, seed=1, train_size=300, test_size=50)
    assert len(s.forget) + len(s.retain) + len(s.val) == 300 and len(s.test) == 50
    loaded = Split.load(s.save(tmp_path / "split.json"))
    assert loaded.fingerprint() == s.fingerprint() and loaded.scheme == "random"


@pytest.mark.parametrize("kwargs,match", [
    (dict(scheme="class", forget=10), "out of range"),
    (dict(scheme="class", forget=[-1]), "out of range"),
    (dict(scheme="random", forget=0.0), r"\(0, 1\)"),
    (dict(scheme="random", forget=1.0), r"\(0, 1\)"),
    (dict(scheme="random", forget=0.0001), "empty"),
    (dict(scheme="random", forget=0), "empty"),
    (dict(scheme="random", forget=10_000), "whole training set"),
    (dict(scheme="class", forget=list(range(10))), "whole training set"),
    (dict(scheme="rows", forget=0.1), "unknown split scheme"),
    (dict(scheme="random", forget=0.1, val_size=5000), "val_size"),
])
def test_split_errors_are_clear(digits, kwargs, match):
    with pytest.raises(ValueError, match=match):
        make_split(digits, **kwargs)


# --------------------------------------------------------------------------- offline formats

def test_npz_root(tmp_path):
    ds = _fake("mnist", channels=1)
    np.savez(tmp_path / "mnist.npz", x_train=ds.x_train[..., 0], y_train=ds.y_train, x_test=ds.x_test[..., 0],
             y_test=ds.y_test)
    got = load_dataset("mnist", root=tmp_path, download=False)
    assert got.x_train.shape == (60, 8, 8, 1) and got.x_train.dtype == np.uint8 and got.y_train.dtype == np.int64
    assert np.array_equal(got.x_train[..., 0], ds.x_train[..., 0]) and got.num_classes == 10  # MNIST's classes


@pytest.mark.parametrize("change,match", [
    (dict(y_train="1000"), r"labels 0\.\.1000, outside 0\.\.9 \('mnist' has 10 classes\)"),
    (dict(y_train="-1"), r"labels -1\.\.2, outside 0\.\.9"),
    (dict(y_train="float"), "labels must be integers, got dtype float64 with fractional values"),
    (dict(y_test="short"), "x_test has 20 images but y_test 19 labels"),
    (dict(x_test="empty"), "the test part is empty"),
])
def test_offline_npz_is_validated_and_errors_name_the_file(tmp_path, change, match):
    ds = _fake("mnist", channels=1)
    arrays = dict(x_train=ds.x_train[..., 0], y_train=ds.y_train, x_test=ds.x_test[..., 0], y_test=ds.y_test)
    if change.get("y_train") == "1000":
        arrays["y_train"] = arrays["y_train"].copy(); arrays["y_train"][0] = 1000
    if change.get("y_train") == "-1":
        arrays["y_train"] = arrays["y_train"].copy(); arrays["y_train"][0] = -1
    if change.get("y_train") == "float":
        arrays["y_train"] = arrays["y_train"] + 0.5
    if change.get("y_test") == "short":
        arrays["y_test"] = arrays["y_test"][:-1]
    if change.get("x_test") == "empty":
        arrays["x_test"], arrays["y_test"] = arrays["x_test"][:0], arrays["y_test"][:0]
    np.savez(tmp_path / "mnist.npz", **arrays)
    with pytest.raises(ValueError, match=match) as err:
        load_dataset("mnist", root=tmp_path, download=False)
    assert str(tmp_path / "mnist.npz") in str(err.value)


def test_truncated_npz_names_the_file(tmp_path):
    ds = _fake("mnist", channels=1)
    np.savez(tmp_path / "mnist.npz", x_train=ds.x_train[..., 0], y_train=ds.y_train, x_test=ds.x_test[..., 0],
             y_test=ds.y_test)
    data = (tmp_path / "mnist.npz").read_bytes()
    (tmp_path / "mnist.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"mnist\.npz cannot be read as an \.npz"):
        load_dataset("mnist", root=tmp_path, download=False)


def _write_tree(base: Path, ds: D.Dataset, fmt: str, train_names_by_index: bool = True):
    from PIL import Image

    for split, x, y in (("train", ds.x_train, ds.y_train), ("test", ds.x_test, ds.y_test)):
        for i, (img, label) in enumerate(zip(x, y)):
            d = base / ds.name / split / ds.classes[label]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(d / f"{i:04d}.{fmt}")


def test_image_tree_png_is_lossless_and_keeps_train_order(tmp_path):
    ds = _fake("cifar10")
    _write_tree(tmp_path, ds, "png")
    got = load_dataset("cifar10", root=tmp_path, download=False)
    assert np.array_equal(got.x_train, ds.x_train) and np.array_equal(got.y_train, ds.y_train)
    assert got.classes == ds.classes and len(got.y_test) == len(ds.y_test)


def test_tar_gz_archive_decoded_once_then_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("UNLEARNLIB_CACHE", str(tmp_path / "cache"))
    ds = _fake("cifar10", n_train=90, n_test=30)
    tree = tmp_path / "tree"
    _write_tree(tree, ds, "jpg")
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar10-jpeg.tar.gz", "w:gz") as tar:
        tar.add(tree / "cifar10", arcname="cifar10")
    first = load_dataset("cifar10", root=root, download=False)
    assert first.x_train.shape == (90, 8, 8, 3) and np.array_equal(first.y_train, ds.y_train)
    assert np.abs(first.x_train.astype(int) - ds.x_train).mean() < 60  # JPEG of noise: lossy but close-ish

    def boom(*a, **k):
        raise AssertionError("decoded again instead of reading the cache")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(D, "_read_image_archive", boom)
        second = load_dataset("cifar10", root=root, download=False)
    assert np.array_equal(second.x_train, first.x_train) and second.source == first.source
    # the source is named portably: file name, size, digest; never this machine's folders or the cache's
    assert second.source.startswith("cifar10-jpeg.tar.gz (") and "sha256 " in second.source
    assert str(tmp_path) not in second.source and "decoded (cached)" in second.source
    # a damaged decoded cache is reported, moved aside and decoded again
    (cached,) = (tmp_path / "cache" / "decoded").glob("cifar10-*.npz")
    cached.write_bytes(cached.read_bytes()[:100])
    with pytest.warns(UserWarning, match="damaged dataset cache"):
        third = load_dataset("cifar10", root=root, download=False)
    assert np.array_equal(third.x_train, first.x_train) and cached.with_name(cached.name + ".bad").is_file()
    # so is one whose contents changed (bytes flipped in the middle: its digest no longer matches)
    b = bytearray(cached.read_bytes())
    b[len(b) // 2:len(b) // 2 + 64] = bytes(x ^ 0xFF for x in b[len(b) // 2:len(b) // 2 + 64])
    cached.write_bytes(bytes(b))
    with pytest.warns(UserWarning, match="damaged dataset cache"):
        fourth = load_dataset("cifar10", root=root, download=False)
    assert np.array_equal(fourth.x_train, first.x_train)


def test_unreadable_image_and_truncated_archive_name_the_file(tmp_path):
    ds = _fake("cifar10", n_train=30, n_test=10)
    tree = tmp_path / "tree"
    _write_tree(tree, ds, "jpg")
    bad = next((tree / "cifar10" / "train").glob("*/*.jpg"))
    bad.write_bytes(b"not a jpeg")
    with pytest.raises(ValueError, match=rf"{bad.parent.name}/{bad.name}: not a readable image"):
        load_dataset("cifar10", root=tree, download=False)
    bad.unlink()
    root = tmp_path / "root"
    root.mkdir()
    with tarfile.open(root / "cifar10.tar.gz", "w:gz") as tar:
        tar.add(tree / "cifar10", arcname="cifar10")
    blob = (root / "cifar10.tar.gz").read_bytes()
    (root / "cifar10.tar.gz").write_bytes(blob[: len(blob) // 2])
    with pytest.raises(ValueError, match=r"cifar10\.tar\.gz: the archive cannot be read to its end"):
        load_dataset("cifar10", root=root, download=False)


def test_missing_dataset_names_every_place_and_the_fix(tmp_path, monkeypatch):
    import torchvision.datasets as tvd

    class Offline:
        def __init__(self, *a, **k):
            raise RuntimeError("network unreachable")
    monkeypatch.setattr(tvd, "CIFAR100", Offline)
    with pytest.raises(DatasetNotFoundError) as err:
        load_dataset("cifar100", root=tmp_path)
    msg = str(err.value)
    assert "cifar100" in msg and str(tmp_path / "cifar100.npz") in msg and "network unreachable" in msg
    assert "UNLEARNLIB_DATA" in msg
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        load_dataset("svhn", root=tmp_path, download=False)


@pytest.mark.parametrize("name,attr", [("cifar100", "CIFAR100"), ("svhn", "SVHN"), ("fashion_mnist", "FashionMNIST")])
def test_torchvision_loaders_convert_without_network(tmp_path, monkeypatch, name, attr):
    """The download path, with torchvision's class replaced by one that serves local arrays."""
    import torchvision.datasets as tvd

    rng = np.random.default_rng(0)

    class Fake:
        def __init__(self, root, train=None, split=None, download=False):
            n = 12 if (train or split == "train") else 4
            if name == "svhn":  # SVHN stores (N, C, H, W) and .labels
                self.data = rng.integers(0, 256, (n, 3, 32, 32), dtype=np.uint8)
                self.labels = np.arange(n) % 10
            elif name == "fashion_mnist":  # torch uint8 (N, H, W) and .targets tensor
                self.data = torch.randint(0, 256, (n, 28, 28), dtype=torch.uint8)
                self.targets = torch.arange(n) % 10
                self.classes = [f"k{i}" for i in range(10)]
            else:  # CIFAR: numpy (N, H, W, C) and a list of targets
                self.data = rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8)
                self.targets = list(np.arange(n) % 100)
                self.classes = [f"k{i}" for i in range(100)]
    monkeypatch.setattr(tvd, attr, Fake)
    ds = load_dataset(name, root=tmp_path)
    channels = 1 if name == "fashion_mnist" else 3
    assert ds.x_train.shape[0] == 12 and ds.x_train.shape[-1] == channels and ds.x_test.shape[0] == 4
    assert ds.num_classes == (100 if name == "cifar100" else 10)
    assert load_dataset(name, root=tmp_path, download=False).x_train.shape == ds.x_train.shape  # cached


def test_unknown_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'imagenet'"):
        load_dataset("imagenet")


def test_digits_embedded(digits):
    assert digits.x_train.shape[1:] == (8, 8, 1) and digits.num_classes == 10
    assert len(digits.y_train) + len(digits.y_test) == 1797 and digits.x_train.max() == 255


SHARED = Path(os.environ.get("UNLEARNLIB_DATA", "/nonexistent"))


@pytest.mark.skipif(not (SHARED / "mnist.npz").is_file(), reason="offline MNIST not present")
def test_real_mnist_offline():
    ds = load_dataset("mnist")
    assert ds.x_train.shape == (60000, 28, 28, 1) and ds.x_test.shape == (10000, 28, 28, 1)
    assert np.bincount(ds.y_train).sum() == 60000 and ds.num_classes == 10


@pytest.mark.skipif(not (SHARED / "cifar10-jpeg.tar.gz").is_file(), reason="offline CIFAR-10 not present")
def test_real_cifar10_offline_and_fast_second_load():
    ds = load_dataset("cifar10")
    assert ds.x_train.shape == (50000, 32, 32, 3) and ds.x_test.shape == (10000, 32, 32, 3)
    assert ds.classes[0] == "airplane" and ds.classes[-1] == "truck"
    assert np.bincount(ds.y_train).tolist() == [5000] * 10
    assert len(set(ds.y_train[:50].tolist())) > 5  # original order restored, not grouped by class
    t = time.perf_counter()
    load_dataset("cifar10")
    assert time.perf_counter() - t < 5  # generous: a benchmark, not a timing test, reports the real figure


# --------------------------------------------------------------------------- device batches

def test_to_device_normalises(digits_data):
    x = digits_data.x_train
    assert x.shape[1:] == (1, 8, 8) and x.dtype == torch.float32
    assert abs(float(x.mean())) < 1e-3 and abs(float(x.std()) - 1) < 1e-2
    back = digits_data.denormalize(x[:5])
    assert float(back.min()) >= -1e-5 and float(back.max()) <= 1 + 1e-5


def test_batches_cover_everything_once(digits_data):
    x, y = digits_data.x_train[:103], digits_data.y_train[:103]
    seen = torch.cat([pos for _, _, pos in D.batches(x, y, 10, shuffle=True, generator=torch.Generator().manual_seed(0))])
    assert sorted(seen.tolist()) == list(range(103))
    for xb, yb, pos in D.batches(x, y, 10, shuffle=True, crop_padding=1, flip=True):
        assert xb.shape == (len(pos), 1, 8, 8) and torch.equal(yb, y[pos])
        assert pos.device.type == "cpu"  # hooks read positions without a device-to-host copy


def test_augment_crop_is_a_shift_and_flip_mirrors():
    x = torch.arange(2 * 1 * 4 * 4, dtype=torch.float32).view(2, 1, 4, 4) + 1
    g = torch.Generator().manual_seed(0)
    out = D.augment(x, crop_padding=1, flip=False, generator=g)
    assert out.shape == x.shape
    for i in range(2):  # every output row is a (possibly zero-padded) shifted window of the input
        vals = set(out[i].flatten().tolist()) - {0.0}
        assert vals <= set(x[i].flatten().tolist())
    flipped = D.augment(x, 0, True, torch.Generator().manual_seed(1))
    for i in range(2):
        assert torch.equal(flipped[i], x[i]) or torch.equal(flipped[i], x[i].flip(-1))


def test_class_ids_must_be_integers(digits):
    with pytest.raises(ValueError, match=r"class id or a list of them \(integers\), got 3.0; use 3"):
        make_split(digits, "class", 3.0)
    with pytest.raises(ValueError, match="class ids"):
        make_split(digits, "class", [3.0])
    with pytest.raises(ValueError, match=r"forget fraction must be in \(0, 1\), got 1.0"):
        make_split(digits, "random", 1.0)


def test_the_profile_comes_from_the_parameter_else_the_environment(monkeypatch):
    from unlearnlib.config import ConfigError
    from unlearnlib.setting import profile_from

    monkeypatch.delenv("UNLEARNLIB_PROFILE", raising=False)
    assert profile_from("") == "quick" and profile_from("cpu") == "cpu"
    monkeypatch.setenv("UNLEARNLIB_PROFILE", "smoke")
    assert profile_from("") == "smoke" and profile_from("paper") == "paper"  # run_all's parameter wins
    monkeypatch.setenv("UNLEARNLIB_PROFILE", "fast")
    with pytest.raises(ConfigError, match="unknown profile 'fast'"):
        profile_from("")
