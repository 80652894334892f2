import pytest
import torch


@pytest.fixture(autouse=True)
def one_intra_op_thread():
    """The tests use tiny tensors: a second intra-op thread only adds OpenMP spin-waiting, which gets very slow
    when the test machine's cores are shared. Results do not depend on the thread count (subprocesses that the
    tests start set OMP_NUM_THREADS themselves where it matters)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)
