"""FID/KID, D's verdicts, memorisation, the feature classifier."""

import pytest
import torch
from torch import nn

from diffaug_lessons.data import load_dataset
from diffaug_lessons.metrics import (
    FidKid,
    classifier_accuracy,
    discriminator_report,
    feature_network,
    inception_path,
    memorisation,
    nearest_neighbours,
)


class Flatten(nn.Module):
    num_features = 3 * 4 * 4

    def forward(self, x):
        return x.flatten(1).double()


def test_fid_and_kid_are_zero_for_identical_sets_and_grow_with_a_shift():
    torch.manual_seed(0)
    reals = torch.rand(300, 3, 4, 4) * 2 - 1
    metric = FidKid(Flatten(), reals, kid_subsets=5, kid_subset_size=100)
    fid0, kid0 = metric.score(reals)
    assert abs(fid0) < 1e-3 and abs(kid0) < 1e-2
    scores = [metric.score((reals + shift).clamp(-1, 1)) for shift in (0.1, 0.3, 0.6)]
    fids = [fid for fid, _ in scores]
    kids = [kid for _, kid in scores]
    assert fids == sorted(fids) and fids[0] > fid0 + 0.1
    assert kids == sorted(kids) and kids[0] > kid0


def test_fid_score_is_repeatable():
    reals = torch.rand(200, 3, 4, 4)
    metric = FidKid(Flatten(), reals, kid_subsets=5)
    fakes = torch.rand(200, 3, 4, 4)
    assert metric.score(fakes) == metric.score(fakes)


class ConstantD(nn.Module):
    def __init__(self, logit):
        super().__init__()
        self.logit = logit

    def forward(self, x):
        return torch.full((len(x),), self.logit)


def test_discriminator_report_reads_sigmoid_and_accuracy():
    images = torch.zeros(10, 1, 4, 4)
    sure_real = discriminator_report(ConstantD(3.0), images, is_real=True)
    assert sure_real.mean_output == pytest.approx(torch.sigmoid(torch.tensor(3.0)).item())
    assert sure_real.accuracy == 1.0
    assert discriminator_report(ConstantD(3.0), images, is_real=False).accuracy == 0.0
    with_t = discriminator_report(ConstantD(-1.0), images, is_real=False, T=lambda x: x + 1)
    assert with_t.accuracy == 1.0


def test_nearest_neighbours_and_memorisation():
    train = torch.rand(50, 1, 4, 4)
    distance, index = nearest_neighbours(train[[3, 7]], train)
    assert torch.equal(index, torch.tensor([3, 7])) and torch.all(distance < 1e-3)
    copied = memorisation(train[:20], train, torch.rand(20, 1, 4, 4))
    assert copied.sample_distance < 1e-3 and copied.ratio < 0.01
    novel = memorisation(torch.rand(200, 1, 4, 4), train, torch.rand(200, 1, 4, 4))
    assert 0.8 < novel.ratio < 1.25


def test_digit_feature_classifier_is_trained_once_and_accurate():
    net = feature_network("digits", 8)
    data = load_dataset("digits", 8)
    assert classifier_accuracy(net, data.images, data.labels) > 0.9
    again = feature_network("digits", 8)  # loaded from the cache
    assert all(torch.equal(a, b) for a, b in zip(net.state_dict().values(), again.state_dict().values()))
    assert net(data.images[:5]).shape == (5, 64)


def test_inception_offline_error_names_url_and_path(monkeypatch):
    import urllib.error
    import urllib.request

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr(urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match=r"inception-2015-12-05.pt.*DIFFAUG_LESSONS_INCEPTION"):
        inception_path()
    monkeypatch.setenv("DIFFAUG_LESSONS_INCEPTION", "/nonexistent/inception.pt")
    with pytest.raises(FileNotFoundError, match="/nonexistent/inception.pt"):
        inception_path()
