"""The faces: the dataset, the 100-shot protocol, and a feature space that ranks damage correctly."""

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from diffaug_lessons.data import N_FACES, faces, lfw_subset, load_dataset
from diffaug_lessons.face_features import DEGRADATIONS, degrade, face_feature_network
from diffaug_lessons.metrics import FidKid, feature_network
from diffaug_lessons.train import TrainConfig, load_split


@pytest.mark.parametrize("resolution", [16, 32])
def test_faces_shape_range_and_interface(resolution):
    dataset = load_dataset("faces", resolution)
    assert dataset.images.shape == (N_FACES, 1, resolution, resolution) == (100, 1, resolution, resolution)
    assert dataset.images.dtype == torch.float32 and dataset.labels.shape == (100,)
    assert -1 <= dataset.images.min() < -0.5 and 0.5 < dataset.images.max() <= 1
    assert len(dataset.subset(torch.arange(10))) == 10


def test_faces_are_the_first_100_crops_of_the_subset_never_the_non_faces():
    from skimage.data import lfw_subset as original

    crops = torch.from_numpy(np.asarray(original(), dtype=np.float32)).unsqueeze(1) * 2 - 1
    for resolution in (16, 32):
        expected = F.interpolate(crops, size=(resolution, resolution), mode="bilinear", antialias=True).clamp(-1, 1)
        assert torch.allclose(faces(resolution).images, expected[:100], atol=1e-6)
        assert not any(torch.allclose(face, other, atol=1e-3) for face in faces(resolution).images for other in expected[100:])
    subset = lfw_subset(16)
    assert subset.labels.tolist() == [1] * 100 + [0] * 100


def test_faces_refuse_a_resolution_that_is_not_a_power_of_two():
    with pytest.raises(ValueError, match="power of two"):
        faces(25)


def test_100_shot_protocol_trains_on_every_face_and_scores_against_them():
    config = TrainConfig(dataset="faces", n_train=None, n_heldout=100)
    train_set, reference = load_split(config)
    assert len(train_set) == 100 and torch.equal(train_set.images, reference.images)
    assert sorted(map(tuple, train_set.images.flatten(1)[:, :4].tolist())) == sorted(
        map(tuple, faces(16).images.flatten(1)[:, :4].tolist()))
    assert len(load_split(config.replace(n_train=50))[0]) == 50


def test_faces_config_refuses_more_than_100_training_images():
    with pytest.raises(ValueError, match="at most 100"):
        TrainConfig(dataset="faces", n_train=101)


def test_faces_train_end_to_end(tiny_config):
    from diffaug_lessons.train import train

    result = train(tiny_config(dataset="faces", strategy="diffaugment", n_train=None, flip_reals=True), progress=False)
    row = result.history[-1]
    assert result.samples.shape[1] == 1 and row["d_gap"] == 0  # held-out = training faces: no gap by construction
    assert np.isfinite(row["fid"]) and np.isfinite(row["kid"])


@pytest.fixture(scope="module")
def scored_faces():
    """FID/KID of every degradation at every strength, at 500 samples vs the 100 faces (16px)."""
    net = feature_network("faces", 16)
    reals = faces(16).images
    metric = FidKid(net, reals)
    samples = reals.repeat(5, 1, 1, 1)
    unaltered = metric.score(samples)
    scores = {kind: [metric.score(degrade(samples, kind, s)) for s in strengths]
              for kind, (_, strengths) in DEGRADATIONS.items()}
    return unaltered, scores


@pytest.mark.parametrize("kind", list(DEGRADATIONS))
@pytest.mark.parametrize("which", [0, 1], ids=["FID", "KID"])
def test_face_metric_ranks_stronger_damage_monotonically_worse(scored_faces, kind, which):
    unaltered, scores = scored_faces
    ladder = [unaltered[which]] + [score[which] for score in scores[kind]]
    assert all(a < b for a, b in zip(ladder, ladder[1:])), f"{kind}: {ladder}"


def test_face_features_tell_faces_from_non_faces_and_are_cached():
    net = face_feature_network(16)
    crops = lfw_subset(16)
    accuracy = ((net.classify(crops.images) > 0).long() == crops.labels).float().mean()
    assert accuracy > 0.9
    again = face_feature_network(16)
    assert torch.equal(net(crops.images[:8]), again(crops.images[:8]))
    assert net(crops.images[:8]).shape == (8, net.num_features)


def test_degrade_names_the_choices():
    with pytest.raises(ValueError, match="blur"):
        degrade(faces(16).images, "blurr", 1.0)


def test_the_faces_ship_inside_scikit_image():
    """No download: the crops are a file of the installed scikit-image package."""
    from pathlib import Path

    import skimage.data

    assert Path(skimage.data.__file__).parent.joinpath("lfw_subset.npy").exists()



def test_nearest_other_distances_skip_the_image_itself_and_its_own_mirror():
    from diffaug_lessons.metrics import nearest_other_distances

    x = torch.tensor([[[[1.0, 0.0], [0.0, 0.0]]]])
    far = torch.full((1, 1, 2, 2), 5.0)
    pair = torch.cat([x, x.flip(3), far])  # the second image is the first one mirrored
    assert nearest_other_distances(pair).tolist()[:2] == [0.0, 0.0]
    assert nearest_other_distances(pair, with_mirrors=False)[0] == pytest.approx(2**0.5)
    symmetric = torch.cat([torch.ones(1, 1, 2, 2), far])  # equal to its own mirror: that must not count
    assert nearest_other_distances(symmetric)[0] == pytest.approx(8.0)


def test_novelty_is_zero_for_copies_and_about_one_for_new_faces():
    from diffaug_lessons.metrics import novelty

    train_faces = faces(16).images
    first, second = train_faces[:50], train_faces[50:]
    # copies read as zero (cdist's matrix-product path rounds differently on each CPU: zero to 1e-3, not bit-exact)
    assert novelty(first.repeat(3, 1, 1, 1), first) == pytest.approx(0.0, abs=1e-3)  # copies of the training faces
    assert novelty(first.flip(3), first, with_mirrors=True) == pytest.approx(0.0, abs=1e-3)  # mirrored copies, when mirrors count
    assert novelty(first.flip(3), first, with_mirrors=False) > 0.5  # ... and not when they do not
    fresh = novelty(second, first)  # faces of other people: as far as the training faces from each other
    assert 0.7 < fresh < 1.4


def test_faces_sample_measures_judge_copying_without_held_out_reals(tiny_config):
    from diffaug_lessons.evidence import sample_measures
    from diffaug_lessons.train import train

    config = tiny_config(dataset="faces", n_train=None, flip_reals=True)
    result = train(config, progress=False)

    class Run:  # what sample_measures reads of a run
        def __init__(self, config, generator):
            self.config, self._g = config, generator

        def generator(self):
            return self._g

    measures = sample_measures(Run(config, result.G))
    assert "memorisation" not in measures  # the held-out set is the training set: the ratio would be 0/0
    assert np.isfinite(measures["novelty"]) and measures["novelty"] > 0
