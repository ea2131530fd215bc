"""Image data sets for the image Glow, read with numpy only (no unpickling), with deterministic train/test splits.

Every loader returns an `ImageDataset` whose images are integer *levels* [N, C, H, W] (uint8) in 0..n_levels-1:

  digits         sklearn's 8x8 digits (1,797 images, bundled with scikit-learn). Values are counts 0..16, i.e.
                 17 levels, kept as they are: n_levels = 17, so the flow uses 17 bins (n_bits = log2 17 ~ 4.09)
                 and a per-pixel 17-way categorical is directly comparable. No official split: a fixed hashed
                 20 % test split (see `hashed_test_mask`).
  fashion-mnist  28x28 grey, 10 classes, from the Debian package `dataset-fashion-mnist`
                 (`apt-get install -y dataset-fashion-mnist`; files under /usr/share/datasets/fashion-mnist) or any
                 directory holding the four idx files (`.gz` or not). Official 60k/10k split.
  mnist          the same idx layout (train-images-idx3-ubyte[.gz], ...), from a directory you give.
  cifar10        the *binary* release (cifar-10-binary.tar.gz: data_batch_{1..5}.bin, test_batch.bin), as the
                 .tar.gz itself or its extracted directory. The python release is a pickle and is refused.
  folder         PNG/JPEG files (Pillow), one sub-directory per class (or all in the root: one class),
                 resized to a square size; hashed test split on the relative path.

`reduce_bits` maps 256-level data to 2^n_bits levels (k >> (8 - n_bits), as Glow does for 5-bit CelebA) and
`to_unit` gives the [0, 1] floats k / (n_levels - 1) that `waveglow.glow` models take.
"""
from __future__ import annotations

import gzip
import hashlib
import tarfile
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from waveglow.common.errors import DataError

DATASETS = ("digits", "fashion-mnist", "mnist", "cifar10", "folder")
FASHION_MNIST_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_INSTALL = "apt-get install -y dataset-fashion-mnist"
FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
                         "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg")

# idx type codes (http://yann.lecun.com/exdb/mnist/, "THE IDX FILE FORMAT"); multi-byte values are big-endian.
_IDX_DTYPES = {0x08: np.dtype("u1"), 0x09: np.dtype("i1"), 0x0B: np.dtype(">i2"), 0x0C: np.dtype(">i4"),
               0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_IDX_NAMES = {"train_images": "train-images-idx3-ubyte", "train_labels": "train-labels-idx1-ubyte",
              "test_images": "t10k-images-idx3-ubyte", "test_labels": "t10k-labels-idx1-ubyte"}
_CIFAR_RECORD = 1 + 3 * 32 * 32  # one label byte, then 1024 red, 1024 green, 1024 blue values (row-major)


@dataclass
class ImageDataset:
    """Integer levels [N, C, H, W] uint8 in 0..n_levels-1, labels [N] int64, and the class names."""

    name: str
    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    n_levels: int
    class_names: list[str] = field(default_factory=list)

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return tuple(self.train_images.shape[1:])

    @property
    def n_classes(self) -> int:
        return len(self.class_names)


# ---- helpers -----------------------------------------------------------------------------------------------------
def hashed_test_mask(keys: list[str], test_fraction: float, seed: int = 0) -> np.ndarray:
    """Boolean [N] test mask: the round(test_fraction * N) keys with the smallest sha256(seed:key).

    It depends only on the keys and the seed (not on their order, the platform or numpy's RNG), so a split is
    reproducible everywhere and adding files never moves existing ones from test to train beyond the quota shift.
    """
    if not 0.0 < test_fraction < 1.0:
        raise ValueError(f"test_fraction must be in (0, 1), got {test_fraction}")
    hashes = [int.from_bytes(hashlib.sha256(f"{seed}:{k}".encode()).digest()[:8], "big") for k in keys]
    order = np.argsort(np.array(hashes, dtype=np.uint64), kind="stable")
    mask = np.zeros(len(keys), dtype=bool)
    mask[order[: int(round(test_fraction * len(keys)))]] = True
    return mask


def reduce_bits(dataset: ImageDataset, n_bits: int | None) -> ImageDataset:
    """256-level data -> 2^n_bits levels by dropping low bits (k >> (8 - n_bits)); None or 8 keeps it as is."""
    if n_bits is None or 2 ** n_bits == dataset.n_levels:
        return dataset
    if dataset.n_levels != 256:
        raise DataError(f"{dataset.name} has {dataset.n_levels} levels per value; --n-bits applies to 8-bit data "
                        f"only (leave it unset)")
    if not 1 <= n_bits <= 8:
        raise DataError(f"n_bits must be in 1..8, got {n_bits}")
    shift = 8 - n_bits
    return replace(dataset, train_images=dataset.train_images >> shift, test_images=dataset.test_images >> shift,
                   n_levels=2 ** n_bits)


def to_unit(levels: np.ndarray, n_levels: int) -> np.ndarray:
    """Levels k -> float32 k / (n_levels - 1) in [0, 1] (the input convention of `waveglow.glow`)."""
    return levels.astype(np.float32) / np.float32(n_levels - 1)


# ---- idx (MNIST, Fashion-MNIST) ----------------------------------------------------------------------------------
def parse_idx(raw: bytes, source: str = "<bytes>") -> np.ndarray:
    """The array stored in idx bytes: magic 0x0000, type code, ndim, then ndim big-endian uint32 sizes, data."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_DTYPES:
        raise DataError(f"{source}: not an idx file (bad magic {raw[:4].hex()})")
    dtype, ndim = _IDX_DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source}: truncated idx header")
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"{source}: idx data has {len(raw) - header} bytes, shape {shape} needs {expected}")
    return np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def read_idx(path: str | Path) -> np.ndarray:
    """An idx file, gzip-compressed (by its magic bytes, whatever its name) or not."""
    path = Path(path)
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError) as exc:
            raise DataError(f"{path}: corrupt gzip ({exc})") from exc
    return parse_idx(raw, str(path))


def _find_idx(root: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (root / name).is_file():
            return root / name
    return None


def load_idx_dataset(root: str | Path, name: str, class_names: list[str], hint: str = "") -> ImageDataset:
    """MNIST-layout directory: train/t10k images (idx3 uint8 [N, 28, 28]) and labels (idx1 uint8 [N])."""
    root = Path(root)
    paths = {key: _find_idx(root, stem) for key, stem in _IDX_NAMES.items()}
    missing = [_IDX_NAMES[k] + "[.gz]" for k, p in paths.items() if p is None]
    if missing:
        raise DataError(f"{name}: missing {', '.join(missing)} in {root}{hint}")
    arrays = {key: read_idx(path) for key, path in paths.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.ndim != 3 or labels.ndim != 1 or len(images) != len(labels) or images.dtype != np.uint8:
            raise DataError(f"{name}: {split} idx files hold images {images.shape} {images.dtype} and labels "
                            f"{labels.shape}; expected uint8 [N, H, W] and [N]")
    return ImageDataset(name, arrays["train_images"][:, None].copy(), arrays["train_labels"].astype(np.int64),
                        arrays["test_images"][:, None].copy(), arrays["test_labels"].astype(np.int64), 256,
                        list(class_names))


def load_fashion_mnist(root: str | Path | None = None) -> ImageDataset:
    """Fashion-MNIST from `root` or the Debian package's directory."""
    root = Path(root) if root is not None else FASHION_MNIST_DIR
    if root == FASHION_MNIST_DIR and not root.is_dir():
        raise DataError(f"fashion-mnist: {root} not found; install it with `{FASHION_MNIST_INSTALL}` "
                        f"or pass the directory holding the idx files")
    hint = f" (install with `{FASHION_MNIST_INSTALL}`)" if root == FASHION_MNIST_DIR else ""
    return load_idx_dataset(root, "fashion-mnist", FASHION_MNIST_CLASSES, hint)


def load_mnist(root: str | Path | None) -> ImageDataset:
    """MNIST from a directory holding its four idx files."""
    if root is None:
        raise DataError("mnist: pass the directory holding train-images-idx3-ubyte.gz etc. (--data-root)")
    return load_idx_dataset(root, "mnist", [str(d) for d in range(10)])


# ---- CIFAR-10 binary ---------------------------------------------------------------------------------------------
def parse_cifar_batch(raw: bytes, source: str = "<bytes>") -> tuple[np.ndarray, np.ndarray]:
    """(images [N, 3, 32, 32] uint8, labels [N] int64) from one CIFAR-10 binary batch."""
    if len(raw) == 0 or len(raw) % _CIFAR_RECORD:
        raise DataError(f"{source}: {len(raw)} bytes is not a whole number of {_CIFAR_RECORD}-byte CIFAR records")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, _CIFAR_RECORD)
    labels = records[:, 0].astype(np.int64)
    if labels.max() > 9:
        raise DataError(f"{source}: label {labels.max()} out of range 0..9 (is this CIFAR-100?)")
    return records[:, 1:].reshape(-1, 3, 32, 32).copy(), labels


def load_cifar10(root: str | Path | None) -> ImageDataset:
    """CIFAR-10 from cifar-10-binary.tar.gz (read in place) or a directory with data_batch_*.bin, test_batch.bin."""
    if root is None:
        raise DataError("cifar10: pass cifar-10-binary.tar.gz or its extracted directory (--data-root)")
    root = Path(root)
    names = [f"data_batch_{i}.bin" for i in range(1, 6)] + ["test_batch.bin"]
    if "python" in root.name or root.suffix in (".pkl", ".pickle"):
        raise DataError(f"{root}: the python CIFAR release is a pickle, which is not read; "
                        f"use cifar-10-binary.tar.gz")
    if not root.exists():
        raise DataError(f"cifar10: {root} not found")
    if root.is_file():
        blobs = {}
        with tarfile.open(root, "r:*") as archive:  # members are read as bytes, nothing is extracted
            for member in archive.getmembers():
                base = Path(member.name).name
                if member.isfile() and base in names:
                    blobs[base] = archive.extractfile(member).read()
    else:
        folder = root / "cifar-10-batches-bin" if (root / "cifar-10-batches-bin").is_dir() else root
        blobs = {n: (folder / n).read_bytes() for n in names if (folder / n).is_file()}
    missing = [n for n in names if n not in blobs]
    if missing:
        raise DataError(f"cifar10: missing {', '.join(missing)} in {root} (the binary release is needed)")
    train = [parse_cifar_batch(blobs[n], n) for n in names[:-1]]
    test_images, test_labels = parse_cifar_batch(blobs["test_batch.bin"], "test_batch.bin")
    return ImageDataset("cifar10", np.concatenate([t[0] for t in train]), np.concatenate([t[1] for t in train]),
                        test_images, test_labels, 256, list(CIFAR10_CLASSES))


# ---- sklearn digits ----------------------------------------------------------------------------------------------
def load_digits(test_fraction: float = 0.2, seed: int = 0) -> ImageDataset:
    """sklearn's 8x8 digits as 17-level images, with the hashed test split (keys: the image index)."""
    try:
        from sklearn.datasets import load_digits as sklearn_digits
    except ImportError as exc:
        raise DataError("digits: scikit-learn is needed (pip install scikit-learn)") from exc
    bunch = sklearn_digits()
    images = bunch.images.astype(np.uint8)[:, None]  # values are exact integers 0..16
    labels = bunch.target.astype(np.int64)
    test = hashed_test_mask([str(i) for i in range(len(images))], test_fraction, seed)
    return ImageDataset("digits", images[~test], labels[~test], images[test], labels[test], 17,
                        [str(d) for d in range(10)])


# ---- image folder ------------------------------------------------------------------------------------------------
def load_image_folder(root: str | Path, size: int = 32, grayscale: bool = False, test_fraction: float = 0.1,
                      seed: int = 0) -> ImageDataset:
    """PNG/JPEG images under `root`: sub-directories are classes (sorted), files directly in root one class.

    Images are converted to RGB (or L), resized to size x size (bilinear) and split by a hash of their path.
    """
    try:
        from PIL import Image
    except ImportError as exc:
        raise DataError("folder: reading images needs Pillow (pip install pillow)") from exc
    root = Path(root)
    if not root.is_dir():
        raise DataError(f"folder: {root} is not a directory")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
    if not files:
        raise DataError(f"folder: no {'/'.join(IMAGE_EXTENSIONS)} files under {root}")
    class_names = sorted({p.relative_to(root).parts[0] for p in files if len(p.relative_to(root).parts) > 1})
    if any(len(p.relative_to(root).parts) == 1 for p in files):
        class_names = ["."] + class_names
    class_index = {name: i for i, name in enumerate(class_names)}
    images, labels = [], []
    for path in files:
        rel = path.relative_to(root).parts
        try:
            with Image.open(path) as img:
                img = img.convert("L" if grayscale else "RGB").resize((size, size), Image.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
        except OSError as exc:
            raise DataError(f"{path}: cannot read image ({exc})") from exc
        images.append(array[None] if grayscale else array.transpose(2, 0, 1))
        labels.append(class_index[rel[0] if len(rel) > 1 else "."])
    images, labels = np.stack(images), np.array(labels, dtype=np.int64)
    test = hashed_test_mask([p.relative_to(root).as_posix() for p in files], test_fraction, seed)
    return ImageDataset(f"folder:{root}", images[~test], labels[~test], images[test], labels[test], 256,
                        class_names)


def load_image_dataset(name: str, root: str | Path | None = None, n_bits: int | None = None,
                       image_size: int = 32, grayscale: bool = False) -> ImageDataset:
    """One of DATASETS by name, with its levels reduced to 2^n_bits when n_bits is given (8-bit data only)."""
    if name == "digits":
        dataset = load_digits()
    elif name == "fashion-mnist":
        dataset = load_fashion_mnist(root)
    elif name == "mnist":
        dataset = load_mnist(root)
    elif name == "cifar10":
        dataset = load_cifar10(root)
    elif name == "folder":
        if root is None:
            raise DataError("folder: pass the image directory (--data-root)")
        dataset = load_image_folder(root, image_size, grayscale)
    else:
        raise DataError(f"unknown image data set {name!r}; choose one of {', '.join(DATASETS)}")
    return reduce_bits(dataset, n_bits)
