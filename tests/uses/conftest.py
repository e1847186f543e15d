import pytest
import torch


@pytest.fixture()
def one_thread():
    """Tiny tables: one thread is faster than two fighting for a busy CPU."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
