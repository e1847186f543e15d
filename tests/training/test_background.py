"""A function run in a thread (aekit.training.background): its work is done by `join`, its error raised there once."""

import threading

import pytest

from aekit.training.background import InThread


def test_join_waits_for_the_work_done_in_another_thread():
    seen = []
    InThread(lambda: seen.append(threading.current_thread().name), "aekit-test").join()
    assert seen == ["aekit-test"]


@pytest.mark.parametrize("error", [OSError("disk full"), KeyboardInterrupt()])
def test_the_error_of_the_thread_is_raised_by_join_once(error):
    def fail():
        raise error

    task = InThread(fail, "aekit-test")
    with pytest.raises(type(error)) as caught:
        task.join()
    assert caught.value is error
    task.join()  # handed over once: a second join has nothing to raise
