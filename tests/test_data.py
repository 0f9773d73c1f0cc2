"""Tests for diffaug_lessons.data: built-in datasets, CIFAR download/parsing, image folders, splits.

Nothing here touches the network: CIFAR tarballs are synthesised in the official layout and downloads
go through a fake ``urlopen``.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile
import urllib.error
import urllib.request

import numpy as np
import pytest
import torch
from PIL import Image

from diffaug_lessons import data
from diffaug_lessons.data import (
    CIFAR_ARCHIVES,
    DATASETS,
    SHAPE_KINDS,
    DatasetUnavailableError,
    ImageSet,
    cifar10,
    cifar100,
    digits,
    fetch_verified,
    image_folder,
    load_dataset,
    shapes,
    train_heldout_split,
)


@pytest.fixture(autouse=True)
def _private_home(tmp_path, monkeypatch):
    """Keep every test's downloads and caches out of the real ~/.cache."""
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(tmp_path / "home"))


# ---------------------------------------------------------------------------------------------------
# digits and shapes


def test_digits_shape_range_and_labels():
    dataset = digits()
    assert len(dataset) == 1797
    assert dataset.images.shape == (1797, 1, 16, 16) and dataset.images.dtype == torch.float32
    assert dataset.images.min() == -1 and dataset.images.max() == 1
    assert dataset.labels.dtype == torch.int64 and set(dataset.labels.tolist()) == set(range(10))


def test_digits_maps_ink_0_to_16_onto_minus_1_to_1_and_resizes():
    from sklearn.datasets import load_digits

    native = digits(8)
    expected = torch.from_numpy(load_digits().images).float().unsqueeze(1) / 8 - 1
    torch.testing.assert_close(native.images, expected)
    large = digits(32)
    assert large.images.shape == (1797, 1, 32, 32)
    assert -1 <= large.images.min() and large.images.max() <= 1


def test_digits_refuses_a_resolution_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match=r"power of two.*got 20"):
        digits(20)


def test_shapes_are_deterministic_rgb_and_in_range():
    first, again, other = shapes(16, n=200, seed=1), shapes(16, n=200, seed=1), shapes(16, n=200, seed=2)
    assert first.images.shape == (200, 3, 16, 16) and first.images.dtype == torch.float32
    assert torch.equal(first.images, again.images) and torch.equal(first.labels, again.labels)
    assert not torch.equal(first.images, other.images)
    assert -1 <= first.images.min() and first.images.max() <= 1
    assert set(first.labels.tolist()) == set(range(len(SHAPE_KINDS)))


def test_shapes_vary_in_colour_and_are_anti_aliased():
    images = (shapes(16, n=500).images + 1) / 2  # [0, 1]
    # The most saturated pixel of each image is its shape's colour: all three channels must lead somewhere.
    spread = images.amax(1) - images.amin(1)  # (n, H, W)
    most_saturated = spread.flatten(1).argmax(1)
    colours = images.flatten(2)[torch.arange(len(images)), :, most_saturated]  # (n, 3)
    assert set(colours.argmax(1).tolist()) == {0, 1, 2}
    assert colours.std(0).min() > 0.2
    # Both dark and light backgrounds occur (a corner pixel is nearly always background).
    corners = images[:, :, 0, 0].mean(1)
    assert (corners < 0.3).any() and (corners > 0.7).any()
    # Edges are blended: many pixels are neither background nor shape colour.
    values = images.flatten(2)
    assert len(torch.unique(values[0])) > 6


def test_shapes_refuses_bad_arguments():
    with pytest.raises(ValueError, match="got 0"):
        shapes(16, n=0)
    with pytest.raises(ValueError, match="got 12"):
        shapes(12)


# ---------------------------------------------------------------------------------------------------
# ImageSet and load_dataset


def test_image_set_subset_and_length():
    dataset = ImageSet(torch.zeros(5, 1, 2, 2), torch.arange(5), "toy")
    assert len(dataset) == 5
    assert dataset.subset(torch.tensor([4, 1])).labels.tolist() == [4, 1]
    assert dataset.subset(dataset.labels >= 3).labels.tolist() == [3, 4]
    with pytest.raises(ValueError, match=r"\(5, 2, 2\)"):
        ImageSet(torch.zeros(5, 2, 2), torch.arange(5), "flat")


def test_load_dataset_by_name():
    assert load_dataset("shapes", 8).images.shape == (2000, 3, 8, 8)
    assert load_dataset("digits").images.shape == (1797, 1, 16, 16)


def test_load_dataset_unknown_name_lists_the_choices():
    with pytest.raises(ValueError, match="'cifar'.*digits, shapes, faces, cifar10, cifar100, folder") as error:
        load_dataset("cifar")
    assert all(name in str(error.value) for name in DATASETS)


def test_load_dataset_refuses_a_test_split_where_there_is_none_and_a_folder_without_path():
    with pytest.raises(ValueError, match="'digits' has no 'test' split"):
        load_dataset("digits", split="test")
    with pytest.raises(ValueError, match="path="):
        load_dataset("folder")
    with pytest.raises(ValueError, match="'val'"):
        load_dataset("cifar10", split="val")


# ---------------------------------------------------------------------------------------------------
# Splits


def _numbered(n: int) -> ImageSet:
    """A dataset whose labels are the image indices, so subsets can be identified."""
    return ImageSet(torch.arange(n).float().view(n, 1, 1, 1), torch.arange(n), f"numbered{n}")


def _ids(dataset: ImageSet) -> set[int]:
    return set(dataset.labels.tolist())


def test_split_has_no_overlap_and_uses_everything_by_default():
    train, heldout = train_heldout_split(_numbered(100), n_heldout=20)
    assert len(heldout) == 20 and len(train) == 80
    assert not _ids(train) & _ids(heldout)
    assert _ids(train) | _ids(heldout) == set(range(100))
    assert torch.equal(train.images.flatten().long(), train.labels)  # images and labels stay paired


def test_split_training_subsets_are_nested_and_heldout_stays_put():
    dataset = _numbered(200)
    splits = [train_heldout_split(dataset, fraction=f, n_heldout=50, seed=3) for f in (0.1, 0.2, 0.5, 1.0)]
    for (smaller, heldout), (larger, next_heldout) in zip(splits, splits[1:], strict=False):
        assert _ids(smaller) < _ids(larger)
        assert torch.equal(heldout.labels, next_heldout.labels)
    by_count = [train_heldout_split(dataset, n_train=n, n_heldout=50, seed=3)[0] for n in (7, 30)]
    assert _ids(by_count[0]) < _ids(by_count[1])


def test_split_depends_on_the_seed_only():
    first = train_heldout_split(_numbered(100), n_train=10, n_heldout=10, seed=0)
    again = train_heldout_split(_numbered(100), n_train=10, n_heldout=10, seed=0)
    other = train_heldout_split(_numbered(100), n_train=10, n_heldout=10, seed=1)
    assert torch.equal(first[0].labels, again[0].labels) and torch.equal(first[1].labels, again[1].labels)
    assert not torch.equal(first[1].labels, other[1].labels)


@pytest.mark.parametrize(("fraction", "expected"), [(0.25, 3), (0.24, 2), (0.04, 1), (0.1, 1), (1.0, 10)])
def test_split_fraction_rounds_to_nearest_of_the_remaining_images(fraction, expected):
    train, heldout = train_heldout_split(_numbered(30), fraction=fraction, n_heldout=20)
    assert len(train) == expected and len(heldout) == 20


def test_split_with_heldout_from_another_set_uses_all_of_dataset_for_training():
    train_set, test_set = _numbered(50), ImageSet(torch.zeros(20, 1, 1, 1), torch.arange(100, 120), "test")
    train, heldout = train_heldout_split(train_set, fraction=0.1, n_heldout=10, heldout_from=test_set)
    assert len(train) == 5 and _ids(train) <= set(range(50))
    assert len(heldout) == 10 and _ids(heldout) <= set(range(100, 120))
    everything, _ = train_heldout_split(train_set, n_heldout=20, heldout_from=test_set)
    assert len(everything) == 50


def test_split_errors_name_the_bad_values():
    dataset = _numbered(100)
    with pytest.raises(ValueError, match=r"not both.*n_train=3.*fraction=0.5"):
        train_heldout_split(dataset, n_train=3, fraction=0.5, n_heldout=20)
    for fraction in (0, 1.5, -0.1, float("nan")):
        with pytest.raises(ValueError, match=rf"\(0, 1\].*{fraction}"):
            train_heldout_split(dataset, fraction=fraction, n_heldout=20)
    with pytest.raises(ValueError, match=r"n_train=81 .*80 images"):
        train_heldout_split(dataset, n_train=81, n_heldout=20)
    with pytest.raises(ValueError, match="got 0"):
        train_heldout_split(dataset, n_train=0, n_heldout=20)
    with pytest.raises(ValueError, match="n_heldout=100 leaves no training image"):
        train_heldout_split(dataset, n_heldout=100)
    with pytest.raises(ValueError, match=r"\[0, 100\].*got 101"):
        train_heldout_split(dataset, n_heldout=101)
    with pytest.raises(ValueError, match="another set"):
        train_heldout_split(dataset, n_heldout=20, heldout_from=dataset)


# ---------------------------------------------------------------------------------------------------
# CIFAR: synthetic tarballs in the official layout


class _Python2Pickler(pickle._Pickler):
    """Writes str and bytes as Python 2 ``str`` (BINSTRING opcodes), as cPickle did for the real files."""

    dispatch = pickle._Pickler.dispatch.copy()

    def _save_python2_str(self, obj):
        raw = obj.encode("latin-1") if isinstance(obj, str) else obj
        if len(raw) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(raw)]) + raw)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(raw)) + raw)
        self.memoize(obj)

    dispatch[str] = dispatch[bytes] = _save_python2_str


def _python2_pickle(batch: dict, numpy1_names: bool) -> bytes:
    buffer = io.BytesIO()
    _Python2Pickler(buffer, protocol=2).dump(batch)
    blob = buffer.getvalue()
    if numpy1_names:  # the real files name the numpy 1.x module that wrote them
        blob = blob.replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")
    return blob


def _write_tarball(path, members: dict[str, bytes]) -> str:
    """Write a .tar.gz of ``members`` at ``path``; return its MD5."""
    with tarfile.open(path, "w:gz") as tar:
        tar.addfile(tarfile.TarInfo("cifar-10-batches-py"))  # stray entries like readme/meta are skipped
        for name, blob in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(blob)
            tar.addfile(info, io.BytesIO(blob))
    return hashlib.md5(path.read_bytes()).hexdigest()


def _cifar10_members(pixels: dict[str, np.ndarray], labels: dict[str, list[int]]) -> dict[str, bytes]:
    members = {}
    for name in pixels:
        batch = {
            "batch_label": f"{name} of 6",
            "labels": labels[name],
            "data": pixels[name],
            "filenames": [f"img_{i}.png" for i in range(len(pixels[name]))],
        }
        key = f"cifar-10-batches-py/{name}"
        members[key] = _python2_pickle(_bytes_keys(batch), numpy1_names=name != "test_batch")
    return members


def _bytes_keys(batch: dict) -> dict:
    return {key.encode(): value for key, value in batch.items()}


@pytest.fixture
def fake_cifar10(tmp_path, monkeypatch):
    """A tiny CIFAR-10 tarball in tmp_path (3 images per train batch, 2 test), md5 patched in."""
    rng = np.random.default_rng(0)
    names = [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]
    pixels = {
        name: rng.integers(0, 256, (2 if name == "test_batch" else 3, 3072), dtype=np.uint8) for name in names
    }
    # A known first image: a red plane of 10, green 20, blue 30, two marked red pixels.
    pixels["data_batch_1"][0] = np.repeat([10, 20, 30], 1024)
    pixels["data_batch_1"][0, 1] = 255  # red, row 0, column 1
    pixels["data_batch_1"][0, 32] = 0  # red, row 1, column 0
    labels = {name: rng.integers(0, 10, len(pixels[name])).tolist() for name in names}
    tarball = tmp_path / "cifar-10-python.tar.gz"
    md5 = _write_tarball(tarball, _cifar10_members(pixels, labels))
    monkeypatch.setitem(CIFAR_ARCHIVES["cifar10"], "md5", md5)
    return tarball, pixels, labels


def _to_uint8(images: torch.Tensor) -> np.ndarray:
    return ((images + 1) * 127.5).round().to(torch.uint8).numpy()


def test_cifar10_round_trips_pixels_and_channel_order(fake_cifar10, tmp_path):
    tarball, pixels, labels = fake_cifar10
    train = cifar10("train", root=tmp_path, download=False)
    assert train.images.shape == (15, 3, 32, 32) and train.images.dtype == torch.float32
    expected = np.concatenate([pixels[f"data_batch_{i}"] for i in range(1, 6)])
    np.testing.assert_array_equal(_to_uint8(train.images).reshape(15, 3072), expected)
    assert train.labels.tolist() == sum((labels[f"data_batch_{i}"] for i in range(1, 6)), [])
    first = _to_uint8(train.images[0])
    assert (first[1] == 20).all() and (first[2] == 30).all()
    assert first[0, 0, 1] == 255 and first[0, 1, 0] == 0 and first[0, 0, 0] == 10
    test = cifar10("test", root=tmp_path, download=False)
    np.testing.assert_array_equal(_to_uint8(test.images).reshape(2, 3072), pixels["test_batch"])
    assert test.labels.tolist() == labels["test_batch"]
    # The parsed arrays are cached beside the tarball: loading again no longer needs it.
    tarball.unlink()
    assert torch.equal(cifar10("test", root=tmp_path, download=False).images, test.images)


def test_reads_a_batch_byte_for_byte_as_python2_cpickle_wrote_it():
    # The opening of the real data_batch_1 (shape shrunk to one image): Python 2 str everywhere, numpy 1.x
    # module names, and dtype arguments as ints (u1, 0, 1) rather than booleans.
    pixels = bytes(range(256)) * 12
    blob = (
        b"\x80\x02}q\x01(U\x04dataq\x02cnumpy.core.multiarray\n_reconstruct\nq\x03cnumpy\nndarray\nq\x04"
        b"K\x00\x85U\x01b\x87Rq\x05(K\x01K\x01M\x00\x0c\x86cnumpy\ndtype\nq\x06U\x02u1K\x00K\x01\x87Rq\x07"
        b"(K\x03U\x01|NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89T\x00\x0c\x00\x00"
        + pixels
        + b"tbU\x06labelsq\x08]q\tK\x07au."
    )
    images, labels = data._read_batch(blob, b"labels", "data_batch_1")
    np.testing.assert_array_equal(images, np.frombuffer(pixels, np.uint8)[None])
    assert labels.tolist() == [7]


def test_load_dataset_reaches_cifar_and_resizes(fake_cifar10, tmp_path):
    dataset = load_dataset("cifar10", 16, split="test", path=tmp_path, download=False)
    assert dataset.images.shape == (2, 3, 16, 16)


def test_cifar100_reads_fine_labels(tmp_path, monkeypatch):
    data_rows = np.arange(4 * 3072, dtype=np.int64).reshape(4, 3072).astype(np.uint8)
    members = {}
    for split, rows in (("train", data_rows[:3]), ("test", data_rows[3:])):
        batch = {
            "data": rows,
            "fine_labels": [99 - i for i in range(len(rows))],
            "coarse_labels": [0] * len(rows),
            "filenames": ["x.png"] * len(rows),
        }
        members[f"cifar-100-python/{split}"] = _python2_pickle(_bytes_keys(batch), numpy1_names=True)
    md5 = _write_tarball(tmp_path / "cifar-100-python.tar.gz", members)
    monkeypatch.setitem(CIFAR_ARCHIVES["cifar100"], "md5", md5)
    train = cifar100(root=tmp_path, download=False)
    assert train.labels.tolist() == [99, 98, 97]
    np.testing.assert_array_equal(_to_uint8(train.images).reshape(3, 3072), data_rows[:3])


def test_cifar_existing_file_with_wrong_md5_is_set_aside(fake_cifar10, tmp_path, monkeypatch):
    tarball, _, _ = fake_cifar10
    monkeypatch.setitem(CIFAR_ARCHIVES["cifar10"], "md5", "0" * 32)
    with pytest.raises(DatasetUnavailableError, match=r"not the expected 0{32}.*moved to .*\.corrupt"):
        cifar10(root=tmp_path, download=False)
    assert not tarball.exists()
    assert tarball.with_name(tarball.name + ".corrupt").exists()


def test_verified_md5_is_remembered_until_the_file_changes(tmp_path, monkeypatch):
    path = tmp_path / "file.bin"
    path.write_bytes(b"some data")
    md5 = hashlib.md5(b"some data").hexdigest()
    fetch_verified("https://example.invalid/file.bin", path, md5, download=False)

    def no_hashing(*args, **kwargs):
        raise AssertionError("hashed again")

    monkeypatch.setattr("diffaug_lessons.download.file_digest", no_hashing)
    fetch_verified("https://example.invalid/file.bin", path, md5, download=False)  # uses the sidecar
    os.utime(path, ns=(0, 0))
    with pytest.raises(AssertionError, match="hashed again"):
        fetch_verified("https://example.invalid/file.bin", path, md5, download=False)


def test_cifar_missing_without_download_says_where_to_put_it(tmp_path):
    with pytest.raises(DatasetUnavailableError, match="download=False") as error:
        cifar10(root=tmp_path, download=False)
    assert str(tmp_path / "cifar-10-python.tar.gz") in str(error.value)


def test_offline_download_names_url_md5_target_and_env_var(monkeypatch):
    def offline(url, timeout):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(DatasetUnavailableError, match="no network") as error:
        cifar10()
    message, archive = str(error.value), CIFAR_ARCHIVES["cifar10"]
    target = data.data_dir() / "cifar-10-python.tar.gz"
    for part in (archive["url"], archive["md5"], str(target), "DIFFAUG_LESSONS_HOME"):
        assert part in message
    assert list(data.data_dir().iterdir()) == []  # no .part left behind


class _FakeResponse(io.BytesIO):
    def __init__(self, body: bytes, content_length: int):
        super().__init__(body)
        self.headers = {"Content-Length": str(content_length)}


def _serve(monkeypatch, body: bytes, content_length: int) -> None:
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: _FakeResponse(body, content_length))


def test_download_verifies_and_then_loads(fake_cifar10, tmp_path, monkeypatch):
    tarball, pixels, _ = fake_cifar10
    body = tarball.read_bytes()
    _serve(monkeypatch, body, len(body))
    root = tmp_path / "downloads"
    test = cifar10("test", root=root)
    np.testing.assert_array_equal(_to_uint8(test.images).reshape(2, 3072), pixels["test_batch"])
    assert (root / "cifar-10-python.tar.gz").read_bytes() == body
    assert (root / "cifar-10-python.tar.gz.md5ok").exists()
    assert not list(root.glob("*.part"))


def test_truncated_download_is_removed(fake_cifar10, tmp_path, monkeypatch):
    body = fake_cifar10[0].read_bytes()
    _serve(monkeypatch, body[:100], len(body))
    root = tmp_path / "downloads"
    with pytest.raises(DatasetUnavailableError, match=f"stopped after 100 of {len(body)} bytes"):
        cifar10(root=root)
    assert list(root.iterdir()) == []


def test_download_with_wrong_md5_is_removed(fake_cifar10, tmp_path, monkeypatch):
    _serve(monkeypatch, b"not a tarball", len(b"not a tarball"))
    root = tmp_path / "downloads"
    with pytest.raises(DatasetUnavailableError, match="not the expected"):
        cifar10(root=root)
    assert list(root.iterdir()) == []


class _Evil:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_is_refused_and_never_runs(tmp_path, monkeypatch):
    marker = tmp_path / "pwned"
    evil = pickle.dumps(_Evil(marker), protocol=2)
    members = {f"cifar-10-batches-py/{name}": evil for name in [f"data_batch_{i}" for i in range(1, 6)]}
    md5 = _write_tarball(tmp_path / "cifar-10-python.tar.gz", members)
    monkeypatch.setitem(CIFAR_ARCHIVES["cifar10"], "md5", md5)
    with pytest.raises(pickle.UnpicklingError, match=r"refused global (posix|nt|os)\.system"):
        cifar10(root=tmp_path, download=False)
    assert not marker.exists()


# ---------------------------------------------------------------------------------------------------
# Image folders


def _write_mixed_folder(folder):
    folder.mkdir()
    Image.new("L", (40, 30), 255).save(folder / "a_grey.png")
    wide = np.zeros((32, 64, 3), np.uint8)
    wide[:, :16] = (0, 0, 255)
    wide[:, 16:48] = (0, 255, 0)
    wide[:, 48:] = (255, 0, 0)
    Image.fromarray(wide).save(folder / "b_wide.PNG")  # extensions match in any case
    rgba = np.zeros((80, 50, 4), np.uint8)
    rgba[:, :25] = (255, 0, 0, 255)  # opaque red on the left
    rgba[:, 25:] = (255, 255, 255, 0)  # transparent white on the right
    Image.fromarray(rgba, "RGBA").save(folder / "c_rgba.png")
    Image.fromarray(np.full((24, 24), 32768, np.uint16)).save(folder / "d_16bit.png")
    (folder / "sub").mkdir()
    palette = Image.new("P", (20, 20), 1)
    palette.putpalette([0, 0, 0, 0, 255, 0] + [0] * 762)
    palette.save(folder / "sub" / "e_palette.bmp")
    (folder / "notes.txt").write_text("not an image")


def test_image_folder_reads_mixed_modes_as_rgb(tmp_path):
    folder = tmp_path / "images"
    _write_mixed_folder(folder)
    with Image.open(folder / "d_16bit.png") as sixteen_bit:
        assert sixteen_bit.mode.startswith("I")  # really stored as 16-bit greyscale
    with pytest.warns(UserWarning, match=r"skipped 1 non-image file.*notes\.txt"):
        dataset = image_folder(folder, resolution=16)
    images = dataset.images
    assert images.shape == (5, 3, 16, 16) and images.dtype == torch.float32
    assert -1 <= images.min() and images.max() <= 1 and dataset.labels.tolist() == [0] * 5
    grey, wide, rgba, sixteen, palette = images
    torch.testing.assert_close(grey, torch.ones_like(grey))
    torch.testing.assert_close(wide, torch.tensor([-1.0, 1, -1]).view(3, 1, 1).expand_as(wide))  # centre crop
    torch.testing.assert_close(rgba[:, :, :6], torch.tensor([1.0, -1, -1]).view(3, 1, 1).expand(3, 16, 6))
    torch.testing.assert_close(rgba[:, :, -6:], -torch.ones(3, 16, 6))  # transparent -> black
    assert sixteen.abs().max() < 0.01  # 32768 of 65535 is mid-grey, not clipped to white
    torch.testing.assert_close(palette, torch.tensor([-1.0, 1, -1]).view(3, 1, 1).expand_as(palette))


def test_image_folder_skips_unreadable_images_with_a_warning(tmp_path):
    Image.new("RGB", (8, 8)).save(tmp_path / "good.png")
    (tmp_path / "broken.png").write_bytes(b"not really a png")
    with pytest.warns(UserWarning, match=r"skipped 1 unreadable image.*broken\.png"):
        assert len(image_folder(tmp_path, resolution=8)) == 1


def test_image_folder_without_images_names_folder_and_extensions(tmp_path):
    (tmp_path / "readme.md").write_text("no images here")
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=rf"{tmp_path.name}.*\.png.*\.webp"):
        image_folder(tmp_path)


def test_image_folder_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        image_folder(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="got 48"):
        image_folder(tmp_path, resolution=48)


def test_load_dataset_folder(tmp_path):
    Image.new("RGB", (10, 12), (255, 255, 255)).save(tmp_path / "white.jpeg")
    dataset = load_dataset("folder", 8, path=tmp_path)
    assert dataset.images.shape == (1, 3, 8, 8) and dataset.images.min() > 0.9
