"""Datasets as uint8 arrays, forget/retain/val/test splits, and on-device batches.

`load_dataset(name)` returns a `Dataset` of numpy arrays (N, H, W, C) uint8 and int64 labels.
Sources, in order: an offline data root (argument or UNLEARNLIB_DATA) holding `<name>.npz`,
an image-folder tree `<name>/{train,test}/<class>/*.jpg|png` or its `.tar.gz`; the embedded
scikit-learn digits; torchvision's download into the cache. Decoded data are cached as .npz
under `paths.cache_root()`, so only the first load of a JPEG archive is slow.

`make_split(dataset, ...)` returns a frozen `Split` of disjoint index arrays.
`DeviceData` keeps a whole normalised dataset on one device; `batches` yields shuffled,
augmented (random crop with padding, horizontal flip) batches without a CPU DataLoader.
"""
from __future__ import annotations

import functools
import hashlib
import io
import json
import tarfile
import warnings
import zipfile
import zlib
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from . import paths

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
_CACHE_VERSION = 1


@dataclass(frozen=True)
class DatasetInfo:
    """Facts about a dataset that do not depend on where it was loaded from."""

    torchvision_name: str | None  # class in torchvision.datasets, None if not downloadable
    crop_padding: int  # random-crop padding used for augmentation (0 = none)
    flip: bool  # whether horizontal flips preserve the label
    num_classes: int  # labels must lie in 0 .. num_classes - 1


DATASETS: dict[str, DatasetInfo] = {
    "digits": DatasetInfo(None, 1, False, 10),
    "mnist": DatasetInfo("MNIST", 2, False, 10),
    "fashion_mnist": DatasetInfo("FashionMNIST", 2, True, 10),
    "cifar10": DatasetInfo("CIFAR10", 4, True, 10),
    "cifar100": DatasetInfo("CIFAR100", 4, True, 100),
    "svhn": DatasetInfo("SVHN", 4, False, 10),
}


class DatasetNotFoundError(FileNotFoundError):
    """Raised when a dataset is neither offline nor downloadable; says where it looked."""


@dataclass(frozen=True, eq=False)
class Dataset:
    """A labelled image dataset with its official train and test parts.

    x_*: (N, H, W, C) uint8; y_*: (N,) int64; classes: class names, label i = classes[i].
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]
    source: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def info(self) -> DatasetInfo:
        return DATASETS.get(self.name, DatasetInfo(None, 0, False, self.num_classes))

    def mean_std(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-channel mean and std of the training images in [0, 1]."""
        x = self.x_train.reshape(-1, self.in_channels).astype(np.float64) / 255.0
        return x.mean(0).astype(np.float32), x.std(0).astype(np.float32)

    def fingerprint(self) -> str:
        """Short hash of labels, shapes and a strided pixel sample: a cache key part."""
        h = hashlib.sha1(self.name.encode())
        for a in (self.x_train, self.y_train, self.x_test, self.y_test):
            h.update(str(a.shape).encode())
            flat = np.ascontiguousarray(a).reshape(-1)
            h.update(np.ascontiguousarray(flat[:: max(1, flat.size // 1_000_000)]).tobytes())
        return h.hexdigest()[:16]


# --------------------------------------------------------------------------- loading


def load_dataset(name: str, root: str | Path | None = None, download: bool = True) -> Dataset:
    """Load `name` (one of `DATASETS`) from the data root, the package, or torchvision.

    root: offline data folder; default UNLEARNLIB_DATA. download: allow torchvision's
    download as a last resort. Raises DatasetNotFoundError naming every place looked.
    """
    key = name.lower().replace("-", "_")
    if key not in DATASETS:
        raise ValueError(
            f"unknown dataset {name!r}; choose one of {sorted(DATASETS)} "
            "(add an entry to unlearnlib.data.DATASETS for a new one)"
        )
    looked: list[str] = []
    base = paths.data_root(root)
    if base is not None:
        found = _load_offline(key, base, looked)
        if found is not None:
            return found
    else:
        looked.append("no offline data root (pass root= or set UNLEARNLIB_DATA)")
    if key == "digits":
        return _load_digits()
    info = DATASETS[key]
    cache_dir = paths.cache_root() / "torchvision"
    cached = cache_dir / f"{key}.npz"
    found = _read_cache_entry(key, cached, source=f"torchvision.datasets.{DATASETS[key].torchvision_name if key in DATASETS else key} download, cached")
    if found is not None:
        return found
    looked.append(f"decoded torchvision cache {cached}")
    if download:
        try:
            ds = _download_torchvision(key, info.torchvision_name, cache_dir)
        except Exception as exc:  # noqa: BLE001 - any failure to fetch becomes one clear error
            looked.append(f"torchvision.datasets.{info.torchvision_name} download into {cache_dir} "
                          f"failed: {type(exc).__name__}: {exc}")
        else:
            _write_npz(cached, ds)
            return ds
    else:
        looked.append("torchvision download (disabled by download=False)")
    raise DatasetNotFoundError(
        f"dataset {key!r} not found. Looked in:\n  - " + "\n  - ".join(looked) + "\n"
        f"To provide it: put {key}.npz (keys x_train y_train x_test y_test), a folder "
        f"{key}/{{train,test}}/<class>/*.png|jpg, or {key}.tar.gz holding that folder, into a "
        "data root and set UNLEARNLIB_DATA to it; or allow a network download."
    )


@functools.lru_cache(maxsize=None)
def _file_digest(path: str, size: int, mtime_ns: int) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def describe_source(path: Path) -> str:
    """A data file named portably: its file name, size and SHA-256 (never the folder it sits in on this machine);
    a folder by its name and file count."""
    path = Path(path)
    if path.is_dir():
        return f"{path.name}/ ({sum(1 for f in path.rglob('*') if f.is_file())} files)"
    st = path.stat()
    return f"{path.name} ({st.st_size / 2**20:.1f} MiB, sha256 {_file_digest(str(path), st.st_size, st.st_mtime_ns)[:16]})"


def _load_offline(key: str, base: Path, looked: list[str]) -> Dataset | None:
    npz = base / f"{key}.npz"
    if npz.is_file():
        return _read_npz(key, npz, source=describe_source(npz))
    looked.append(str(npz))
    folder = base / key
    if (folder / "train").is_dir():
        return _cached_decode(key, folder, lambda: _read_image_tree(key, folder))
    looked.append(f"{folder}/{{train,test}}/<class>/")
    archives = sorted(base.glob(f"{key}.tar.gz")) + sorted(base.glob(f"{key}-*.tar.gz"))
    if archives:
        return _cached_decode(key, archives[0], lambda: _read_image_archive(key, archives[0]))
    looked.append(f"{base}/{key}.tar.gz or {key}-*.tar.gz")
    return None


def _cached_decode(key: str, src: Path, decode) -> Dataset:
    """Decode `src` once; later loads read an .npz keyed by its path, size and mtime."""
    st = src.stat()
    tag = hashlib.sha1(f"{_CACHE_VERSION}|{src.resolve()}|{st.st_size}|{st.st_mtime_ns}".encode())
    cached = paths.cache_root() / "decoded" / f"{key}-{tag.hexdigest()[:12]}.npz"
    source = f"{describe_source(src)}, decoded (cached)"  # the same words whether decoded now or read back
    found = _read_cache_entry(key, cached, source=source)
    if found is not None:
        return found
    ds = replace(decode(), source=source)
    _write_npz(cached, ds)
    return ds


def _read_cache_entry(key: str, path: Path, source: str) -> Dataset | None:
    """A decoded dataset from the cache, or None: missing, or damaged (then reported by path, moved aside to
    `<name>.bad` and decoded again by the caller)."""
    if not path.is_file():
        return None
    try:
        return _read_npz(key, path, source)
    except (OSError, ValueError, EOFError, KeyError) as exc:
        bad = path.with_name(path.name + ".bad")
        path.replace(bad)
        warnings.warn(f"damaged dataset cache {path} ({exc}); moved to {bad.name}, decoding again", stacklevel=2)
        return None


def _read_npz(key: str, path: Path, source: str) -> Dataset:
    try:
        with np.load(path, allow_pickle=False) as z:
            missing = {"x_train", "y_train", "x_test", "y_test"} - set(z.files)
            if missing:
                raise ValueError(f"{path} lacks arrays {sorted(missing)}; it needs x_train y_train x_test y_test")
            check_npz_digest(z, path)
            arrays = {k: z[k] for k in ("x_train", "y_train", "x_test", "y_test")}
            classes = tuple(str(c) for c in z["classes"]) if "classes" in z.files else None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} cannot be read as an .npz ({type(exc).__name__}: {exc}); replace the file") from None
    x_train, x_test = (_as_nhwc(arrays[k], path) for k in ("x_train", "x_test"))
    y_train, y_test = (_labels(arrays[k], f"{path}: {k}") for k in ("y_train", "y_test"))
    n = DATASETS[key].num_classes if key in DATASETS else int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    if classes is None:
        classes = _default_classes(key, n)
    return validated(Dataset(key, x_train, y_train, x_test, y_test, classes, source), str(path))


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    """Labels as int64 (N,): integer dtypes, or floats that are whole numbers; anything else is an error."""
    y = np.asarray(y).reshape(-1)
    if np.issubdtype(y.dtype, np.integer):
        return y.astype(np.int64)
    if np.issubdtype(y.dtype, np.floating) and np.isfinite(y).all() and (y == np.round(y)).all():
        return y.astype(np.int64)
    raise ValueError(f"{where}: labels must be integers, got dtype {y.dtype}"
                     + (" with fractional values" if np.issubdtype(y.dtype, np.floating) else ""))


def validated(ds: Dataset, origin: str) -> Dataset:
    """`ds` after checking what the library relies on: uint8 (N, H, W, C) images of one shape in both parts,
    one label per image, non-empty parts, labels in 0 .. num_classes - 1 (the dataset's known count)."""
    problems = []
    for part in ("train", "test"):
        x, y = getattr(ds, f"x_{part}"), getattr(ds, f"y_{part}")
        if len(x) == 0:
            problems.append(f"the {part} part is empty")
        if x.dtype != np.uint8 or x.ndim != 4:
            problems.append(f"x_{part} must be uint8 (N, H, W, C), got {x.dtype} {x.shape}")
        if len(x) != len(y):
            problems.append(f"x_{part} has {len(x)} images but y_{part} {len(y)} labels")
        if len(y) and (y.min() < 0 or y.max() >= ds.num_classes):
            problems.append(f"y_{part} holds labels {int(y.min())}..{int(y.max())}, outside 0..{ds.num_classes - 1} "
                            f"({ds.name!r} has {ds.num_classes} classes)")
    if not problems and ds.x_train.shape[1:] != ds.x_test.shape[1:]:
        problems.append(f"train images are {ds.x_train.shape[1:]} but test images {ds.x_test.shape[1:]}")
    if problems:
        raise ValueError(f"{origin}: " + "; ".join(problems))
    return ds


DIGEST = "__sha256__"  # the array of an .npz cache entry holding the SHA-256 of all its other arrays


def arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """SHA-256 of named arrays: names, dtypes, shapes and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        h.update(f"{name}:{a.dtype.str}:{a.shape};".encode())
        h.update(a.tobytes())
    return h.hexdigest()


def save_npz_atomic(path: Path, **arrays) -> None:
    """np.savez to a temporary file renamed over `path`, with the digest of its arrays: an interrupted write never
    leaves a broken cache entry, and damaged contents are caught when read (`check_npz_digest`)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez(tmp, **arrays, **{DIGEST: np.array(arrays_digest(arrays))})
    tmp.replace(path)


def check_npz_digest(z, path) -> None:
    """Raise ValueError when an open .npz written with a digest (`save_npz_atomic`) no longer matches it. Files
    without one (a user's offline data, entries written before digests) are not checked."""
    if DIGEST in z.files:
        arrays = {k: z[k] for k in z.files if k != DIGEST}
        if arrays_digest(arrays) != str(z[DIGEST]):
            raise ValueError(f"{path}: its contents do not match the SHA-256 written with them (damaged on disk)")


def _write_npz(path: Path, ds: Dataset) -> None:
    save_npz_atomic(path, x_train=ds.x_train, y_train=ds.y_train, x_test=ds.x_test, y_test=ds.y_test,
                    classes=np.array(ds.classes))


def _as_nhwc(x: np.ndarray, origin) -> np.ndarray:
    if x.dtype != np.uint8:
        raise ValueError(f"{origin}: images must be uint8, got {x.dtype}")
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4 and x.shape[-1] in (1, 3):
        return x
    if x.ndim == 4 and x.shape[1] in (1, 3):
        return np.ascontiguousarray(x.transpose(0, 2, 3, 1))
    raise ValueError(f"{origin}: images must be (N,H,W), (N,H,W,C) or (N,C,H,W); got {x.shape}")


def _default_classes(key: str, n: int) -> tuple[str, ...]:
    return tuple(str(i) for i in range(n))


def _decode_image(data: bytes, name: str = "") -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as im:
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise ValueError(f"{name}: not a readable image ({type(exc).__name__}: {exc}); replace or remove it") from None
    return arr


def _assemble(key: str, parts: dict[str, list[tuple[str, str, bytes]]], origin: str) -> Dataset:
    """parts[split] = [(class_name, file_stem, image bytes, file name)] -> Dataset.

    Classes are sorted names (torchvision's order). Numeric stems restore the original
    order (the offline CIFAR-10 train files are named by their original index).
    """
    for split in ("train", "test"):
        if not parts.get(split):
            raise ValueError(f"{origin}: no images under {key}/{split}/<class>/")
    classes = tuple(sorted({c for items in parts.values() for c, _, _, _ in items}))
    index = {c: i for i, c in enumerate(classes)}
    out = {}
    for split, items in parts.items():
        items = sorted(items, key=lambda it: (0, int(it[1]), "") if it[1].isdigit() and split == "train"
                       else (1, index[it[0]], it[1]))
        imgs = [_decode_image(b, f"{origin}: {name}") for _, _, b, name in items]
        shapes = {im.shape for im in imgs}
        if len(shapes) != 1:
            raise ValueError(f"{origin}: images of {split} differ in shape: {sorted(shapes)[:3]}")
        out[f"x_{split}"] = _as_nhwc(np.stack(imgs), origin)
        out[f"y_{split}"] = np.array([index[c] for c, _, _, _ in items], dtype=np.int64)
    return validated(Dataset(key, out["x_train"], out["y_train"], out["x_test"], out["y_test"], classes, origin), origin)


def _read_image_tree(key: str, folder: Path) -> Dataset:
    parts: dict[str, list] = {"train": [], "test": []}
    for split in parts:
        for f in sorted((folder / split).glob("*/*")):
            if f.suffix.lower() in _IMAGE_SUFFIXES:
                parts[split].append((f.parent.name, f.stem, f.read_bytes(), str(f.relative_to(folder))))
    return _assemble(key, parts, str(folder))


def _read_image_archive(key: str, archive: Path) -> Dataset:
    parts: dict[str, list] = {"train": [], "test": []}
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                p = Path(member.name)
                if not member.isfile() or p.suffix.lower() not in _IMAGE_SUFFIXES or len(p.parts) < 4:
                    continue
                root, split, cls = p.parts[-4], p.parts[-3], p.parts[-2]
                if root == key and split in parts:
                    parts[split].append((cls, p.stem, tar.extractfile(member).read(), member.name))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as exc:
        raise ValueError(f"{archive}: the archive cannot be read to its end ({type(exc).__name__}: {exc}); "
                         "it is truncated or damaged: copy it again") from None
    return _assemble(key, parts, str(archive))


def _load_digits() -> Dataset:
    """scikit-learn's 8x8 digits (1,797 images, values 0..16) scaled to uint8.

    No official test part exists: a fixed stratified 80/20 split (seed 0) provides one.
    """
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = np.round(d.images * (255.0 / 16.0)).astype(np.uint8)[..., None]
    y = d.target.astype(np.int64)
    x_tr, x_te, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y, random_state=0)
    return Dataset("digits", x_tr, y_tr, x_te, y_te, tuple(str(i) for i in range(10)),
                   "sklearn.datasets.load_digits (fixed stratified 80/20 split, seed 0)")


def _download_torchvision(key: str, tv_name: str, cache_dir: Path) -> Dataset:
    import torchvision.datasets as tvd

    cls = getattr(tvd, tv_name)
    root = cache_dir / "raw"
    if key == "svhn":
        tr, te = cls(str(root), split="train", download=True), cls(str(root), split="test", download=True)
        x_tr, x_te = tr.data.transpose(0, 2, 3, 1), te.data.transpose(0, 2, 3, 1)
        y_tr, y_te = np.asarray(tr.labels), np.asarray(te.labels)
        classes = tuple(str(i) for i in range(10))
    else:
        tr, te = cls(str(root), train=True, download=True), cls(str(root), train=False, download=True)
        x_tr, x_te = (np.asarray(d.data) for d in (tr, te))
        y_tr, y_te = (np.asarray(d.targets) for d in (tr, te))
        classes = tuple(tr.classes)
    src = f"torchvision.datasets.{tv_name} download"
    return validated(Dataset(key, _as_nhwc(np.asarray(x_tr, dtype=np.uint8), src), y_tr.astype(np.int64),
                             _as_nhwc(np.asarray(x_te, dtype=np.uint8), src), y_te.astype(np.int64), classes, src), src)


# --------------------------------------------------------------------------- splits


@dataclass(frozen=True, eq=False)
class Split:
    """Disjoint index arrays into the dataset: the unlearning problem's four parts.

    forget, retain, val index the training part (val is held out of training);
    test indexes the test part and, for class-wise forgetting, excludes the forgotten
    classes, whose test samples are in test_forget (empty for random forgetting).
    Training samples outside forget, retain and val were left out by `train_size`.
    """

    scheme: str
    seed: int
    forget: np.ndarray
    retain: np.ndarray
    val: np.ndarray
    test: np.ndarray
    test_forget: np.ndarray
    forget_classes: tuple[int, ...] = ()
    forget_fraction: float | None = None
    n_train: int = 0
    n_test: int = 0
    dataset: str = ""

    def __post_init__(self):
        for name in ("forget", "retain", "val", "test", "test_forget"):
            arr = np.asarray(getattr(self, name), dtype=np.int64)
            arr.setflags(write=False)
            object.__setattr__(self, name, arr)

    @property
    def train(self) -> np.ndarray:
        """Indices the original model trains on: forget and retain."""
        return np.sort(np.concatenate([self.forget, self.retain]))

    def sizes(self) -> dict[str, int]:
        return {k: int(len(getattr(self, k))) for k in ("forget", "retain", "val", "test", "test_forget")}

    def fingerprint(self) -> str:
        h = hashlib.sha1(f"{self.dataset}|{self.scheme}|{self.n_train}|{self.n_test}".encode())
        for name in ("forget", "retain", "val", "test", "test_forget"):
            h.update(name.encode())
            h.update(getattr(self, name).tobytes())
        return h.hexdigest()[:16]

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in ("scheme", "seed", "forget_fraction", "n_train", "n_test", "dataset")}
        d["forget_classes"] = list(self.forget_classes)
        for name in ("forget", "retain", "val", "test", "test_forget"):
            d[name] = getattr(self, name).tolist()
        return d

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_dict()))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "Split":
        d = json.loads(Path(path).read_text())
        d["forget_classes"] = tuple(d["forget_classes"])
        return cls(**d)


def make_split(
    dataset: Dataset,
    scheme: str = "random",
    forget: float | int | Sequence[int] = 0.1,
    val_size: int | float = 0.1,
    seed: int = 0,
    train_size: int | None = None,
    test_size: int | None = None,
    stratify_val: bool = True,
) -> Split:
    """Split the training part into forget / retain / val, and pick the test indices.

    scheme "random": forget is a fraction in (0, 1) of the remaining training samples
    (after val is held out) or a count. scheme "class": forget is a class id or a list of
    them; every non-val training sample of those classes is forgotten.
    val_size: count, or fraction of the (sub-sampled) training part. train_size /
    test_size: random subsets, for small profiles. Deterministic for a given seed.
    stratify_val: the validation set takes the same share of every class, as Unlearn-Sparse's
    loaders do (10 % of each CIFAR class: 500 of each, so class-wise forgetting removes 4,500);
    False draws it at random from the whole pool.
    """
    n_train_all, n_test_all = len(dataset.y_train), len(dataset.y_test)
    rng = np.random.default_rng(seed)
    if scheme not in ("random", "class"):
        raise ValueError(f"unknown split scheme {scheme!r}; use 'random' or 'class'")
    pool = _subset(rng, n_train_all, train_size, "train_size", dataset.name)
    tests = _subset(rng, n_test_all, test_size, "test_size", dataset.name)
    if isinstance(val_size, float):
        if not 0.0 <= val_size < 1.0:
            raise ValueError(f"val_size fraction must be in [0, 1), got {val_size}")
        val_size = int(round(val_size * len(pool)))
    if not 0 <= val_size < len(pool):
        raise ValueError(f"val_size must be between 0 and the {len(pool)} training samples, got {val_size}")
    pool = rng.permutation(pool)
    if stratify_val:
        val = _stratified(rng, pool, dataset.y_train[pool], val_size)
        rest = pool[~np.isin(pool, val)]
    else:
        val, rest = np.sort(pool[:val_size]), pool[val_size:]

    fraction, classes = None, ()
    if scheme == "random":
        if isinstance(forget, (float, np.floating)):
            if not 0.0 < forget < 1.0:
                raise ValueError(f"forget fraction must be in (0, 1), got {forget}; "
                                 "use a count (int) or scheme='class' for whole classes")
            fraction, n_forget = float(forget), int(round(float(forget) * len(rest)))
        elif isinstance(forget, (int, np.integer)) and not isinstance(forget, bool):
            n_forget = int(forget)
        else:
            raise TypeError(f"random forgetting takes a fraction or a count, got {forget!r}")
        if n_forget <= 0:
            raise ValueError(f"forget set is empty ({forget} of {len(rest)} training samples); "
                             "raise the fraction or count")
        if n_forget >= len(rest):
            raise ValueError(f"forget set would be the whole training set ({n_forget} of {len(rest)}); "
                             "forget fewer samples so that something is retained")
        chosen = rng.permutation(rest)[:n_forget]
        forget_idx = np.sort(chosen)
        test_forget = np.empty(0, dtype=np.int64)
        test_idx = np.sort(tests)
    else:
        if isinstance(forget, (float, np.floating, bool, str)) or forget is None:
            raise ValueError(f"class-wise forgetting takes a class id or a list of them (integers), got {forget!r}"
                             + (f"; use {int(forget)}" if isinstance(forget, float) and float(forget).is_integer() else ""))
        ids = [forget] if isinstance(forget, (int, np.integer)) else list(forget)
        if not ids or any(isinstance(c, (float, bool, np.floating)) for c in ids):
            raise ValueError(f"class-wise forgetting takes class ids (integers), got {forget!r}")
        bad = [int(c) for c in ids if not 0 <= int(c) < dataset.num_classes]
        if bad:
            raise ValueError(f"class id(s) {bad} out of range for {dataset.name!r}, which has classes "
                             f"0..{dataset.num_classes - 1}")
        classes = tuple(sorted({int(c) for c in ids}))
        in_class = np.isin(dataset.y_train[rest], classes)
        forget_idx = np.sort(rest[in_class])
        if len(forget_idx) == 0:
            raise ValueError(f"forget set is empty: no training samples of classes {classes} "
                             "outside the validation set; use a larger train_size")
        if in_class.all():
            raise ValueError(f"forget set would be the whole training set (classes {classes}); "
                             "forget fewer classes")
        t_in = np.isin(dataset.y_test[tests], classes)
        test_forget, test_idx = np.sort(tests[t_in]), np.sort(tests[~t_in])
    retain = np.sort(np.setdiff1d(rest, forget_idx))
    return Split(scheme, seed, forget_idx, retain, val, test_idx, test_forget, classes, fraction,
                 n_train_all, n_test_all, dataset.name)


def keep_of_class(split: Split, keep: int | float, seed: int) -> Split:
    """Graves et al.'s class-wise request: of the forgotten class's training samples only `keep` stay in the
    training data, and the request forgets exactly those; the class's other training samples leave the training data
    (neither forget nor retain: no model here trains on them). Their MNIST notebook keeps 100 threes
    (lmgraves/AmnesiacML, `Amnesiac Unlearning - MNIST.ipynb`: `count < 100`); in their CIFAR-100 notebooks a class
    is 1 % of the training data.

    keep: a count of the class's samples, or a share in (0, 1) of the training data the original trains on (the
    kept samples included). Validation, test and test_forget stay as they are."""
    if split.scheme != "class":
        raise ValueError(f"keep_of_class takes a class-wise split, got scheme {split.scheme!r}")
    n_class = len(split.forget)
    if isinstance(keep, (float, np.floating)):
        if not 0.0 < keep < 1.0:
            raise ValueError(f"class_keep as a share of the training data must be in (0, 1), got {keep}")
        n = int(round(keep * len(split.retain) / (1 - keep)))  # n / (retain + n) = keep
    elif isinstance(keep, (int, np.integer)) and not isinstance(keep, bool):
        n = int(keep)
    else:
        raise TypeError(f"class_keep takes a count (int) or a share of the training data (float), got {keep!r}")
    if not 0 < n <= n_class:
        raise ValueError(f"class_keep {keep!r} keeps {n} of the class's {n_class} training samples; it must keep "
                         f"between 1 and {n_class}")
    rng = np.random.default_rng([seed, 1])  # its own stream: the split itself stays as make_split drew it
    kept = np.sort(rng.choice(split.forget, size=n, replace=False))
    return Split(split.scheme, split.seed, kept, split.retain, split.val, split.test, split.test_forget,
                 split.forget_classes, None, split.n_train, split.n_test, split.dataset)


def random_request(split: Split, n: int, seed: int) -> Split:
    """A random forget request of `n` samples from the training data of `split` (same training data, validation and
    test set, the test forget set folded into test): the sample scheme beside a class request, so that both schemes
    share one original."""
    train = split.train
    if not 0 < n < len(train):
        raise ValueError(f"a random request takes between 1 and {len(train) - 1} samples of the {len(train)} "
                         f"training samples, got {n}")
    rng = np.random.default_rng([seed, 2])
    forget = np.sort(rng.choice(train, size=int(n), replace=False))
    return Split("random", split.seed, forget, np.setdiff1d(train, forget), split.val,
                 np.sort(np.concatenate([split.test, split.test_forget])), np.empty(0, dtype=np.int64), (), None,
                 split.n_train, split.n_test, split.dataset)


def held_out(split: Split) -> Split:
    """A split whose training data is `split`'s validation part (same test set): for a model that never saw the
    training data of `split`, such as an independent judge of model inversion."""
    if len(split.val) == 0:
        raise ValueError("the split has no validation part to train on; use val_size > 0")
    empty = np.empty(0, dtype=np.int64)
    return Split("random", split.seed, empty, split.val, empty, np.sort(np.concatenate([split.test, split.test_forget])),
                 empty, (), None, split.n_train, split.n_test, split.dataset)


def _stratified(rng: np.random.Generator, pool: np.ndarray, labels: np.ndarray, n: int) -> np.ndarray:
    """n indices of `pool` (already shuffled) taking each class in proportion to its count.

    Per class floor(n * count_c / len(pool)); the few left over go to the classes with the largest
    remainders, so exactly n are taken (n = 5,000 of CIFAR-10's 50,000: 500 of each class)."""
    if n == 0:
        return np.empty(0, dtype=pool.dtype)
    classes, counts = np.unique(labels, return_counts=True)
    exact = n * counts / len(pool)
    take = np.floor(exact).astype(int)
    order = np.argsort(-(exact - take), kind="stable")
    take[order[:n - take.sum()]] += 1
    chosen = [pool[labels == c][:k] for c, k in zip(classes, take)]  # pool is shuffled: its first k of the class
    return np.sort(np.concatenate(chosen))


def _subset(rng, n: int, size: int | None, what: str, name: str) -> np.ndarray:
    if size is None or size >= n:
        return np.arange(n)
    if size <= 0:
        raise ValueError(f"{what} must be positive, got {size}")
    return np.sort(rng.choice(n, size=int(size), replace=False))


# --------------------------------------------------------------------------- device data


@dataclass(eq=False)
class DeviceData:
    """A whole dataset, normalised, as (N, C, H, W) float tensors on one device.

    Keeping everything on the device lets training draw batches by indexing, so a GPU
    is never starved by a CPU DataLoader (the cifar10-airbench approach).
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor  # (C,)
    std: torch.Tensor  # (C,)
    classes: tuple[str, ...]
    crop_padding: int = 0
    flip: bool = False
    fingerprint: str = ""

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    @property
    def device(self) -> torch.device:
        return self.x_train.device

    def train_part(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) of training indices idx, on the device."""
        i = torch.tensor(np.asarray(idx), dtype=torch.long, device=self.device)
        return self.x_train[i], self.y_train[i]

    def test_part(self, idx: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        i = torch.tensor(np.asarray(idx), dtype=torch.long, device=self.device)
        return self.x_test[i], self.y_test[i]

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Back to [0, 1] pixels, (N, C, H, W)."""
        return x * self.std.view(1, -1, 1, 1).to(x) + self.mean.view(1, -1, 1, 1).to(x)


def to_device(dataset: Dataset, device: str | torch.device = "cpu") -> DeviceData:
    """Normalise with the training part's per-channel mean and std and move to `device`."""
    device = torch.device(device)
    mean, std = dataset.mean_std()
    m, s = torch.tensor(mean, device=device), torch.tensor(std, device=device)

    def conv(x: np.ndarray) -> torch.Tensor:
        t = torch.from_numpy(x).to(device).permute(0, 3, 1, 2).float().div_(255.0)
        return ((t - m.view(1, -1, 1, 1)) / s.view(1, -1, 1, 1)).contiguous()

    info = dataset.info
    return DeviceData(
        dataset.name, conv(dataset.x_train), torch.from_numpy(dataset.y_train).to(device),
        conv(dataset.x_test), torch.from_numpy(dataset.y_test).to(device), m, s, dataset.classes,
        info.crop_padding, info.flip, dataset.fingerprint(),
    )


@functools.lru_cache(maxsize=2)
def device_data(name: str, device: str = "cpu") -> DeviceData:
    """`to_device(load_dataset(name), device)`, kept for the life of the process: jobs that run one after another in it
    (shadows, sweep grid points) share one copy, and a Ray worker loads it once. Callers must not modify it."""
    return to_device(load_dataset(name), torch.device(device))


def augment(x: torch.Tensor, crop_padding: int, flip: bool, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random crop after zero padding (0 = the normalised mean) and random horizontal flip, on x's device."""
    n, c, h, w = x.shape
    if crop_padding > 0:
        p = crop_padding
        padded = F.pad(x, (p, p, p, p))
        dy = torch.randint(0, 2 * p + 1, (n,), device=x.device, generator=generator)
        dx = torch.randint(0, 2 * p + 1, (n,), device=x.device, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=x.device))[:, :, None]  # (n, h, 1)
        cols = (dx[:, None] + torch.arange(w, device=x.device))[:, None, :]  # (n, 1, w)
        batch = torch.arange(n, device=x.device)[:, None, None]
        x = padded.permute(0, 2, 3, 1)[batch, rows, cols].permute(0, 3, 1, 2)
    if flip:
        mask = torch.rand(n, device=x.device, generator=generator) < 0.5
        x = torch.where(mask.view(n, 1, 1, 1), x.flip(3), x)
    return x.contiguous()


def batches(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    shuffle: bool = True,
    crop_padding: int = 0,
    flip: bool = False,
    generator: torch.Generator | None = None,
    drop_last: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Yield (x_batch, y_batch, positions) from on-device tensors; positions index x.

    positions are a CPU tensor (the order is drawn on the CPU and indexes x through a device copy),
    so a hook that reads them (amnesiac recording) needs no device-to-host copy, which would stall
    the host until the GPU caught up at every batch.
    """
    n = len(x)
    if shuffle:
        order_cpu = torch.randperm(n, device="cpu", generator=_cpu_generator(generator))
    else:
        order_cpu = torch.arange(n)
    order = order_cpu.to(x.device)
    stop = n - (n % batch_size) if drop_last and n >= batch_size else n
    dev_gen = generator if generator is not None and generator.device == x.device else None
    for start in range(0, stop, batch_size):
        pos = order[start:start + batch_size]
        xb = x[pos]
        if crop_padding or flip:
            xb = augment(xb, crop_padding, flip, dev_gen)
        yield xb, y[pos], order_cpu[start:start + batch_size]


def _cpu_generator(g: torch.Generator | None) -> torch.Generator | None:
    return g if g is not None and g.device.type == "cpu" else None
