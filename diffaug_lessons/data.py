"""Datasets for the lessons: every loader returns an :class:`ImageSet` of NCHW images in [-1, 1].

Three small datasets need no download: ``digits`` (scikit-learn's 1,797 handwritten 8x8 digits),
``shapes`` (coloured shapes drawn on the fly) and ``faces`` (the 100 face photographs of the Labeled
Faces in the Wild subset that scikit-image bundles: the paper's 100-shot setting on real photos).
The paper's CIFAR-10 and CIFAR-100 are fetched once from the dataset authors' site into
:func:`diffaug_lessons.settings.data_dir`, checked against a fixed MD5, read straight from the
tarball and cached as ``.npz``. ``folder`` reads any folder of images, e.g. the 100-shot sets.
:func:`train_heldout_split` makes the paper's fixed partial-data subsets (10%, 20%, ...) and a
held-out set that stays the same whichever subset is trained on.
"""

from __future__ import annotations

import io
import math
import os
import pickle
import tarfile
import warnings
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps

from . import download as download_module
from .atomic import atomic_write_bytes
from .download import DownloadError
from .errors import check_choice
from .settings import data_dir

DATASETS = ("digits", "shapes", "faces", "cifar10", "cifar100", "folder")
SPLITS = ("train", "test")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
SHAPE_KINDS = ("circle", "square", "triangle", "ring", "cross")

# Official python-version tarballs; train/test name the pickled batches inside them.
CIFAR_ARCHIVES = {
    "cifar10": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz",
        "md5": "c58f30108f718f92721af3b95e74349a",
        "train": tuple(f"cifar-10-batches-py/data_batch_{i}" for i in range(1, 6)),
        "test": ("cifar-10-batches-py/test_batch",),
        "label_key": b"labels",
    },
    "cifar100": {
        "url": "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz",
        "md5": "eb9058c3a382ffc7106e4002c42a8d85",
        "train": ("cifar-100-python/train",),
        "test": ("cifar-100-python/test",),
        "label_key": b"fine_labels",
    },
}


# A data file could not be downloaded or failed its checksum; the message says how to fix it.
DatasetUnavailableError = DownloadError


@dataclass
class ImageSet:
    """Images held in memory with their labels.

    images: float32 (N, C, H, W) in [-1, 1]. labels: int64 (N,), 0 where the dataset has no classes.
    """

    images: torch.Tensor
    labels: torch.Tensor
    name: str

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.labels.shape != (len(self.images),):
            raise ValueError(
                f"ImageSet {self.name!r} needs images (N, C, H, W) and labels (N,); "
                f"got {tuple(self.images.shape)} and {tuple(self.labels.shape)}"
            )

    def __len__(self) -> int:
        return len(self.images)

    def subset(self, index: torch.Tensor) -> ImageSet:
        """The images at ``index`` (int64 positions, or a bool mask of length N), under the same name."""
        index = torch.as_tensor(index)
        return ImageSet(self.images[index], self.labels[index], self.name)


# ---------------------------------------------------------------------------------------------------
# Choosing a dataset


def load_dataset(
    name: str,
    resolution: int | None = None,
    *,
    split: str = "train",
    path: str | os.PathLike | None = None,
    download: bool = True,
) -> ImageSet:
    """Load one of :data:`DATASETS` by name.

    resolution: output side in pixels (a power of two); None keeps each dataset's default (digits,
    shapes and faces 16, CIFAR 32, folder 64). split: "train" or "test" (only CIFAR has a test split; hold images
    out of the others with :func:`train_heldout_split`). path: the folder for "folder", or where the
    CIFAR tarballs live (default: ``settings.data_dir()``). download: fetch missing CIFAR files.
    """
    check_choice("dataset", name, DATASETS)
    check_choice("split", split, SPLITS)
    if name in ("cifar10", "cifar100"):
        dataset = _cifar(name, split, path, download)
        if resolution is not None:
            dataset = replace(dataset, images=_resize(dataset.images, _check_resolution(resolution, 8, 256)))
        return dataset
    if split != "train":
        raise ValueError(
            f"dataset {name!r} has no {split!r} split, only 'train'; "
            "hold images out with train_heldout_split instead"
        )
    if name == "folder":
        if path is None:
            raise ValueError("dataset 'folder' needs path=<a folder of images>")
        return image_folder(path, 64 if resolution is None else resolution)
    loader = {"digits": digits, "shapes": shapes, "faces": faces}[name]
    return loader() if resolution is None else loader(resolution)


def _check_resolution(resolution: int, low: int, high: int) -> int:
    """Return ``resolution`` if it is a power of two in [low, high], else raise naming the choices."""
    choices = [2**k for k in range(low.bit_length() - 1, high.bit_length())]
    if isinstance(resolution, bool) or resolution not in choices:
        raise ValueError(
            f"resolution must be a power of two from {low} to {high} "
            f"({', '.join(map(str, choices))}); got {resolution!r}"
        )
    return int(resolution)


def _resize(images: torch.Tensor, resolution: int) -> torch.Tensor:
    """Bilinear resize of (N, C, H, W) to (N, C, resolution, resolution).

    Antialiased, so that shrinking averages pixels instead of skipping them (which would alias).
    """
    if tuple(images.shape[-2:]) == (resolution, resolution):
        return images
    resized = F.interpolate(images, size=(resolution, resolution), mode="bilinear", antialias=True)
    return resized.clamp(-1, 1)  # the weights average, but float rounding can step a hair past +-1


# ---------------------------------------------------------------------------------------------------
# Built-in datasets: no download


def digits(resolution: int = 16) -> ImageSet:
    """scikit-learn's 1,797 handwritten digits: (1797, 1, resolution, resolution), labels 0..9.

    The 8x8 originals count ink from 0 to 16; 0 (paper) maps to -1 and 16 (full ink) to 1.
    resolution: 8, 16, 32 or 64 (bilinear resize).
    """
    from sklearn.datasets import load_digits  # imported here: scikit-learn is slow to import

    resolution = _check_resolution(resolution, 8, 64)
    bunch = load_digits()
    images = torch.from_numpy(bunch.images).float().unsqueeze(1) / 8 - 1
    return ImageSet(_resize(images, resolution), torch.from_numpy(bunch.target).long(), "digits")


N_FACES = 100  # lfw_subset(): the first 100 of its 200 crops are faces, the other 100 are not


def lfw_subset(resolution: int = 16) -> ImageSet:
    """All 200 crops of scikit-image's LFW subset: (200, 1, resolution, resolution), label 1 = face, 0 = not.

    The 25x25 greyscale crops (first 100: faces of random people of Labeled Faces in the Wild; last
    100: background crops of the same photos) ship inside scikit-image, so nothing is downloaded.
    Pixels 0..1 map to [-1, 1]; resized bilinearly (antialiased when shrinking, as for every dataset
    here). resolution: 8, 16, 32 or 64. The non-faces train the faces' feature network
    (:mod:`diffaug_lessons.face_features`); the GANs only ever see :func:`faces`.
    """
    from skimage.data import lfw_subset as load  # imported here: scikit-image is slow to import

    resolution = _check_resolution(resolution, 8, 64)
    crops = torch.from_numpy(np.asarray(load(), dtype=np.float32)).unsqueeze(1) * 2 - 1
    labels = (torch.arange(len(crops)) < N_FACES).long()
    return ImageSet(_resize(crops, resolution), labels, "lfw_subset")


def faces(resolution: int = 16) -> ImageSet:
    """The 100 face photographs of :func:`lfw_subset` (never its non-faces): (100, 1, res, res), labels 0.

    Real photographs for the paper's 100-shot setting. resolution: 8, 16, 32 or 64 (bilinear, from 25x25).
    """
    subset = lfw_subset(resolution)
    return ImageSet(subset.images[:N_FACES], torch.zeros(N_FACES, dtype=torch.int64), "faces")


def _inside_triangle(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Equilateral triangle of circumradius 1: on the inner side of its three edges (inradius 1/2)."""
    inside = torch.ones_like(u, dtype=torch.bool)
    for angle in (-math.pi / 2, math.pi / 6, 5 * math.pi / 6):
        inside &= u * math.cos(angle) + v * math.sin(angle) <= 0.5
    return inside


# Each shape as a test on shape-local coordinates (u, v), in which the shape has radius about 1.
SHAPE_MASKS = {
    "circle": lambda u, v: u**2 + v**2 <= 1,
    "square": lambda u, v: torch.maximum(u.abs(), v.abs()) <= 0.8,
    "triangle": _inside_triangle,
    "ring": lambda u, v: (u**2 + v**2 <= 1) & (u**2 + v**2 >= 0.55**2),
    "cross": lambda u, v: ((u.abs() <= 0.3) & (v.abs() <= 1)) | ((v.abs() <= 0.3) & (u.abs() <= 1)),
}


def shapes(resolution: int = 16, n: int = 2000, seed: int = 0) -> ImageSet:
    """``n`` RGB images of one filled shape each: (n, 3, resolution, resolution), labels index SHAPE_KINDS.

    Position, size, rotation, hue and background (dark or light) vary per image, so colour and
    translation augmentations have something to change. Deterministic for a given seed.
    resolution: a power of two from 8 to 256.
    """
    resolution = _check_resolution(resolution, 8, 256)
    if n < 1:
        raise ValueError(f"n must be at least 1; got {n!r}")
    generator = torch.Generator().manual_seed(seed)
    kinds = torch.randint(len(SHAPE_KINDS), (n,), generator=generator)
    radius = 0.35 + 0.35 * torch.rand(n, generator=generator)  # in half-image units
    centre = (torch.rand(n, 2, generator=generator) * 2 - 1) * (1 - radius[:, None])  # stays in frame
    angle = torch.rand(n, generator=generator) * 2 * math.pi
    background, foreground = _shape_colours(n, generator)
    coverage = _shape_coverage(kinds, centre, radius, angle, resolution)
    images = background[:, :, None, None] * (1 - coverage) + foreground[:, :, None, None] * coverage
    return ImageSet(images * 2 - 1, kinds, "shapes")


def _shape_colours(n: int, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """Background and foreground RGB colours in [0, 1], each (n, 3)."""
    light = torch.rand(n, generator=generator) < 0.5
    level = torch.where(light, 0.75, 0.0) + 0.25 * torch.rand(n, generator=generator)
    tint = 0.1 * (torch.rand(n, 3, generator=generator) - 0.5)
    background = (level[:, None] + tint).clamp(0, 1)
    # Any hue, saturated; bright on dark backgrounds and deep on light ones, so the shape stands out.
    hue = torch.rand(n, generator=generator)
    pure = torch.stack([(6 * hue - 3).abs() - 1, 2 - (6 * hue - 2).abs(), 2 - (6 * hue - 4).abs()], 1)
    saturation = 0.6 + 0.4 * torch.rand(n, 1, generator=generator)
    value = torch.where(light, 0.25, 0.7) + 0.35 * torch.rand(n, generator=generator)
    foreground = value[:, None].clamp(max=1) * (1 - saturation + saturation * pure.clamp(0, 1))
    return background, foreground


def _shape_coverage(
    kinds: torch.Tensor, centre: torch.Tensor, radius: torch.Tensor, angle: torch.Tensor, resolution: int
) -> torch.Tensor:
    """Fraction of each pixel covered by each image's shape: (n, 1, resolution, resolution) in [0, 1].

    Shapes are drawn at 4x the resolution and box-averaged down, which anti-aliases their edges.
    """
    fine = 4 * resolution
    axis = (torch.arange(fine) + 0.5) / fine * 2 - 1  # pixel centres in [-1, 1]
    y, x = torch.meshgrid(axis, axis, indexing="ij")
    coverage = torch.empty(len(kinds), 1, resolution, resolution)
    chunk = max(1, 2**18 // fine**2)  # ~1 MB buffers: cache-sized, and far faster than one big batch
    for index, kind in enumerate(SHAPE_KINDS):
        for part in (kinds == index).nonzero()[:, 0].split(chunk):
            # Shape-local coordinates: shift to the centre, rotate by -angle, divide by the radius.
            dx, dy = x - centre[part, 0, None, None], y - centre[part, 1, None, None]
            cos = (angle[part].cos() / radius[part])[:, None, None]
            sin = (angle[part].sin() / radius[part])[:, None, None]
            inside = SHAPE_MASKS[kind](dx * cos + dy * sin, dy * cos - dx * sin)
            coverage[part] = F.avg_pool2d(inside.float().unsqueeze(1), 4)
    return coverage


# ---------------------------------------------------------------------------------------------------
# Downloads with checksums


def fetch_verified(url: str, path: str | os.PathLike, md5: str, *, download: bool = True) -> Path:
    """:func:`diffaug_lessons.download.fetch_verified` with an MD5, as the dataset authors publish it."""
    return download_module.fetch_verified(url, path, md5, algorithm="md5", download=download)


# ---------------------------------------------------------------------------------------------------
# CIFAR


def cifar10(split: str = "train", root: str | os.PathLike | None = None, download: bool = True) -> ImageSet:
    """CIFAR-10: (50000 train or 10000 test, 3, 32, 32), labels 0..9. root: folder of the tarball."""
    return _cifar("cifar10", split, root, download)


def cifar100(split: str = "train", root: str | os.PathLike | None = None, download: bool = True) -> ImageSet:
    """CIFAR-100: (50000 train or 10000 test, 3, 32, 32), fine labels 0..99. root: folder of the tarball."""
    return _cifar("cifar100", split, root, download)


def _cifar(name: str, split: str, root: str | os.PathLike | None, download: bool) -> ImageSet:
    check_choice("split", split, SPLITS)
    archive = CIFAR_ARCHIVES[name]
    folder = data_dir() if root is None else Path(root).expanduser()
    tarball = folder / archive["url"].rsplit("/", 1)[-1]
    # Named by checksum, so the cache can never come from a different tarball than the expected one.
    cache = folder / f"{name}-{archive['md5'][:12]}.npz"
    if not cache.exists():
        fetch_verified(archive["url"], tarball, archive["md5"], download=download)
        buffer = io.BytesIO()
        np.savez(buffer, **_read_cifar_tarball(tarball, archive))
        atomic_write_bytes(buffer.getvalue(), cache)
    with np.load(cache) as arrays:
        pixels, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
    images = torch.from_numpy(pixels).float() / 127.5 - 1  # uint8 0..255 -> [-1, 1]
    return ImageSet(images, torch.from_numpy(labels).long(), f"{name}-{split}")


def _read_cifar_tarball(tarball: Path, archive: dict) -> dict[str, np.ndarray]:
    """The batches of a CIFAR tarball, read without extracting it to disk.

    Returns uint8 images (N, 3, 32, 32) and int64 labels (N,) as "<split>_images", "<split>_labels".
    """
    wanted = {member for split in SPLITS for member in archive[split]}
    batches = {}
    with tarfile.open(tarball, "r:gz") as tar:
        for member in tar:  # one pass: a .tar.gz can only be read front to back
            if member.name in wanted and member.isfile():
                blob, where = tar.extractfile(member).read(), f"{tarball.name}:{member.name}"
                batches[member.name] = _read_batch(blob, archive["label_key"], where)
    missing = sorted(wanted - batches.keys())
    if missing:
        raise ValueError(f"{tarball} lacks {', '.join(missing)}; is it the official {tarball.name}?")
    arrays = {}
    for split in SPLITS:
        data, labels = zip(*(batches[member] for member in archive[split]), strict=True)
        # Each row is 1024 red, then 1024 green, then 1024 blue values, each a row-major 32x32 plane.
        arrays[f"{split}_images"] = np.concatenate(data).reshape(-1, 3, 32, 32)
        arrays[f"{split}_labels"] = np.concatenate(labels)
    return arrays


def _read_batch(blob: bytes, label_key: bytes, where: str) -> tuple[np.ndarray, np.ndarray]:
    """Unpickle one CIFAR batch: uint8 data (N, 3072) and int64 labels (N,)."""
    # encoding="bytes": the batches were pickled by Python 2, whose str keys become b"data", b"labels".
    batch = _CifarUnpickler(io.BytesIO(blob), encoding="bytes", where=where).load()
    if not isinstance(batch, dict) or b"data" not in batch or label_key not in batch:
        raise ValueError(f"{where} is not a CIFAR batch: expected a dict with keys b'data' and {label_key!r}")
    data, labels = np.asarray(batch[b"data"]), np.asarray(batch[label_key], dtype=np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 or labels.shape != (len(data),):
        raise ValueError(
            f"{where}: expected uint8 data (N, 3072) and N labels; got {data.dtype} {data.shape} "
            f"and labels {labels.shape}"
        )
    return data, labels


# A CIFAR batch is a protocol-2 pickle of a dict holding one numpy uint8 array and lists of ints and
# strings. Dicts, lists, ints and strings are pickle opcodes; the only globals it names are those that
# rebuild the array: numpy's _reconstruct (numpy.core in numpy 1.x, which wrote the files, numpy._core in
# 2.x), ndarray and dtype. Any other global is refused: unpickling a global such as os.system runs code.
_RECONSTRUCT = np.empty(0).__reduce__()[0]  # the function numpy itself pickles arrays with
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
    ("numpy", "ndarray"): np.ndarray,
    ("numpy", "dtype"): np.dtype,
}


class _CifarUnpickler(pickle.Unpickler):
    """An unpickler that resolves only the globals in ``_ALLOWED_GLOBALS``."""

    def __init__(self, file: io.BytesIO, *, encoding: str, where: str) -> None:
        super().__init__(file, encoding=encoding)
        self.where = where

    def find_class(self, module: str, name: str) -> object:
        try:
            return _ALLOWED_GLOBALS[module, name]
        except KeyError:
            allowed = ", ".join(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS)
            raise pickle.UnpicklingError(
                f"refused global {module}.{name} in {self.where}; a CIFAR batch only needs {allowed}"
            ) from None


# ---------------------------------------------------------------------------------------------------
# Folders of images


def image_folder(path: str | os.PathLike, resolution: int = 64) -> ImageSet:
    """Every image under ``path`` (subfolders too), as (N, 3, resolution, resolution) with labels 0.

    Accepts IMAGE_EXTENSIONS in any case. Each image is made RGB (grey repeated, transparency composited
    on black, 16-bit scaled to 8-bit range), centre-cropped to a square and resized (bilinear,
    antialiased). resolution: a power of two from 8 to 1024. Other files are skipped with a warning.
    """
    folder = Path(path).expanduser()
    resolution = _check_resolution(resolution, 8, 1024)
    if not folder.exists():
        raise FileNotFoundError(f"image folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"{folder} is a file; image_folder needs a folder of images")
    files = sorted(file for file in folder.rglob("*") if file.is_file())
    image_files = [file for file in files if file.suffix.lower() in IMAGE_EXTENSIONS]
    other_files = [file for file in files if file.suffix.lower() not in IMAGE_EXTENSIONS]
    _warn_skipped(folder, other_files, "non-image file")
    images, unreadable, oversized = [], [], []
    for file in image_files:
        try:
            with warnings.catch_warnings():  # a header claiming a huge image: refuse it before decoding
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                images.append(_read_image(file, resolution))
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            oversized.append(file)
        except (OSError, SyntaxError, ValueError):  # unidentified, truncated or malformed files
            unreadable.append(file)
    _warn_skipped(folder, unreadable, "unreadable image")
    _warn_skipped(folder, oversized, "oversized image",
                  f"an image may have at most {Image.MAX_IMAGE_PIXELS:,} pixels (more could be a decompression bomb)")
    if not images:
        extensions = ", ".join(IMAGE_EXTENSIONS)
        raise ValueError(f"no readable images in {folder} (searched it and its subfolders for {extensions})")
    labels = torch.zeros(len(images), dtype=torch.int64)
    return ImageSet(torch.stack(images), labels, f"folder:{folder.name}")


def _warn_skipped(folder: Path, skipped: list[Path], what: str, reason: str = "") -> None:
    if skipped:
        examples = ", ".join(str(file.relative_to(folder)) for file in skipped[:3])
        reason = reason or f"images are read from {', '.join(IMAGE_EXTENSIONS)} files"
        warnings.warn(
            f"skipped {len(skipped)} {what}(s) in {folder} (e.g. {examples}); {reason}",
            stacklevel=3,
        )


def _read_image(file: Path, resolution: int) -> torch.Tensor:
    """One image file as float32 (3, resolution, resolution) in [-1, 1], centre-cropped to a square."""
    with Image.open(file) as opened:
        image = ImageOps.exif_transpose(opened)  # phone photos store their rotation in EXIF
    width, height = image.size
    side = min(width, height)
    left, top = (width - side) // 2, (height - side) // 2
    rgb = _to_rgb(image.crop((left, top, left + side, top + side)))
    square = torch.from_numpy(rgb).permute(2, 0, 1).unsqueeze(0)
    return _resize(square, resolution)[0] * 2 - 1


def _to_rgb(image: Image.Image) -> np.ndarray:
    """A PIL image of any mode as float32 (H, W, 3) in [0, 1]."""
    if image.mode == "I" or image.mode.startswith("I;16"):
        # 16-bit greyscale: PIL's convert("RGB") would clip at 255 and turn nearly everything white.
        grey = np.asarray(image, dtype=np.float32).clip(0, 65535) / 65535
        return np.repeat(grey[:, :, None], 3, axis=2)
    if "A" in image.getbands() or "transparency" in image.info:
        # Composite on black: the colour under fully transparent pixels is arbitrary and must not show.
        rgba = np.asarray(image.convert("RGBA"), dtype=np.float32) / 255
        return rgba[:, :, :3] * rgba[:, :, 3:]
    return np.asarray(image.convert("RGB"), dtype=np.float32) / 255


# ---------------------------------------------------------------------------------------------------
# Partial data and a held-out set


def train_heldout_split(
    dataset: ImageSet,
    *,
    n_train: int | None = None,
    fraction: float | None = None,
    n_heldout: int = 500,
    seed: int = 0,
    heldout_from: ImageSet | None = None,
) -> tuple[ImageSet, ImageSet]:
    """A training subset of ``dataset`` and a held-out set of the same distribution, never overlapping.

    One seeded permutation decides everything: its first ``n_heldout`` images are held out, and the
    training subset is the first n_train of the rest. So the held-out set does not move when the amount
    of training data changes, and smaller training subsets lie inside larger ones (10% inside 20%).
    heldout_from: draw the held-out images from this set instead (e.g. CIFAR's test split, as in the
    paper) and the training subset from all of ``dataset`` (fraction=0.1 of CIFAR-10 = 5,000 images).
    n_train / fraction: give at most one; fraction in (0, 1] of the images available for training,
    rounded to nearest (at least 1); neither means all of them.
    """
    if n_train is not None and fraction is not None:
        raise ValueError(f"give n_train or fraction, not both; got {n_train=!r}, {fraction=!r}")
    if heldout_from is dataset:
        raise ValueError("heldout_from must be another set, e.g. a test split (None: hold out part of it)")
    source = dataset if heldout_from is None else heldout_from
    if not 0 <= n_heldout <= len(source):
        raise ValueError(f"n_heldout must be in [0, {len(source)}] for {source.name!r}; got {n_heldout!r}")
    heldout_order = _permutation(len(source), seed)
    pool = heldout_order[n_heldout:] if heldout_from is None else _permutation(len(dataset), seed)
    if len(pool) == 0:
        raise ValueError(
            f"n_heldout={n_heldout} leaves no training image of the {len(dataset)} in {dataset.name!r}"
        )
    count = _training_count(len(pool), n_train, fraction)
    train = dataset.subset(pool[:count])
    heldout = source.subset(heldout_order[:n_heldout])
    return (
        replace(train, name=f"{dataset.name} train ({count})"),
        replace(heldout, name=f"{source.name} held-out ({n_heldout})"),
    )


def _permutation(n: int, seed: int) -> torch.Tensor:
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed))


def _training_count(available: int, n_train: int | None, fraction: float | None) -> int:
    if fraction is not None:
        if not 0 < fraction <= 1:  # also refuses NaN
            raise ValueError(f"fraction must be in (0, 1]; got {fraction!r}")
        return max(1, math.floor(fraction * available + 0.5))  # halves round up: 0.25 of 10 -> 3
    if n_train is None:
        return available
    if n_train < 1:
        raise ValueError(f"n_train must be at least 1; got {n_train!r}")
    if n_train > available:
        raise ValueError(f"n_train={n_train} is more than the {available} images available for training")
    return n_train
