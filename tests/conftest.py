import pytest
import torch


@pytest.fixture(autouse=True, scope="session")
def session_lmlab_cache(tmp_path_factory):
    """What lmlab caches (tokenised corpora) goes to a folder of this test session, not to ~/.cache; the
    CLI subprocesses the tests start inherit it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LMLAB_CACHE", str(tmp_path_factory.mktemp("lmlab_cache")))
        yield


@pytest.fixture(autouse=True)
def one_intra_op_thread():
    """The tests use tiny tensors: a second intra-op thread only adds OpenMP spin-waiting, which gets very slow
    when the test machine's cores are shared. Results do not depend on the thread count (subprocesses that the
    tests start set OMP_NUM_THREADS themselves where it matters)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
