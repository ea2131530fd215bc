import os
from pathlib import Path

import pytest
import torch

FIXTURES = Path(__file__).parent / "fixtures"
GOLDEN = FIXTURES / "golden"

# Two shared cores: keep each test process from oversubscribing them.
torch.set_num_threads(int(os.environ.get("WAVEGLOW_TEST_THREADS", "2")))


def pytest_addoption(parser):
    parser.addoption("--runslow", action="store_true", default=False, help="also run tests marked slow")


def pytest_collection_modifyitems(config, items):
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def one_thread():
    """Tiny-batch training is faster on one thread than on two contended ones (thread sync dominates)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def _restore_default_dtype():
    """A test that changes torch's default dtype must not leak it into the tests after it."""
    dtype = torch.get_default_dtype()
    yield
    torch.set_default_dtype(dtype)


@pytest.fixture(scope="session")
def quick_workspace(tmp_path_factory):
    """Generated fixtures and cached in-process runs of the scripts' and documented commands' quick forms."""
    from quick_runs import Workspace

    return Workspace(tmp_path_factory.mktemp("quick_runs"))
