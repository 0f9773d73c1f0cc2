import contextlib

import pytest
import torch


@pytest.fixture(scope="session")
def _home_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("home")


@pytest.fixture(scope="module", autouse=True)
def _package_home_for_module_fixtures(_home_dir):
    """The same for a test module's own module-scoped fixtures (set up before any per-test fixture): a
    run or feature network they make lands in the session's cache, never in the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DIFFAUG_LESSONS_HOME", str(_home_dir))
        patch.delenv("DIFFAUG_LESSONS_QUICK", raising=False)
        yield


@pytest.fixture(autouse=True)
def _package_home(_home_dir, monkeypatch):
    """Every test uses the session's own cache folder: tests never touch a user's runs.

    Set per test (and undone after it), so the notebooks that nbval runs in the same session
    keep the environment of `make test` (quick mode, .cache/test-home).
    """
    monkeypatch.setenv("DIFFAUG_LESSONS_HOME", str(_home_dir))
    monkeypatch.delenv("DIFFAUG_LESSONS_QUICK", raising=False)


@pytest.fixture
def tiny_config():
    """A config small enough to train in about a second (the package's own tiny preset)."""
    from diffaug_lessons.train import TrainConfig

    def make(**overrides):
        base = dict(resolution=8, g_width=8, d_width=8, z_dim=16, n_train=64, n_heldout=64, batch_size=16,
                    steps=12, eval_every=4, n_eval_samples=32, device="cpu")
        return TrainConfig(**{**base, **overrides})

    torch.manual_seed(0)
    return make


# The tests train tiny networks: one thread is faster for them, and it keeps a busy 2-core
# CI machine from thrashing between competing thread pools.
torch.set_num_threads(1)


@pytest.fixture(scope="module", params=["kernel", "torch-ops"])
def cpu_path(request):
    """Which implementation the fast path uses on the CPU: the compiled kernel (the default for float32/64)
    or the torch ops it keeps for CUDA, low precision and torch.compile. Use as ``with cpu_path(): ...``."""
    from diffaug_lessons import augment_cpu

    return contextlib.nullcontext if request.param == "kernel" else augment_cpu.disabled
