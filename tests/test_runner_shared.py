"""The work-sharing loop of local runs (``sweep.runner._shared``): every item once, workers fed
as they finish, gated on their warm-up, stopped on the first failure.

A thread pool stands in for the worker processes (the loop only submits and waits on futures)."""

from __future__ import annotations

import threading
from collections import Counter, deque
from concurrent.futures import Future, ThreadPoolExecutor

import pytest

from aimc_dse.sweep.runner import _shared


def square(x: int) -> tuple[str, int]:
    return ("worker", x * x)


@pytest.mark.parametrize("depth, in_order", [(1, False), (2, False), (2, True)])
def test_every_item_is_done_exactly_once(depth, in_order):
    with ThreadPoolExecutor(2) as pool:
        got = list(_shared(pool, deque(range(200)), 2, submit=lambda p, x: p.submit(square, x),
                           own=lambda x: ("own", x * x), depth=depth, in_order=in_order))
    assert Counter(v for _, v in got) == Counter(x * x for x in range(200))
    assert {who for who, _ in got} <= {"worker", "own"}


def test_this_process_takes_items_from_the_front_in_order_and_from_the_back_otherwise():
    gate = Future()  # workers never start: this process does everything
    for in_order, expected in ((True, list(range(10))), (False, list(range(9, -1, -1)))):
        with ThreadPoolExecutor(1) as pool:
            got = list(_shared(pool, deque(range(10)), 1, submit=lambda p, x: p.submit(square, x),
                               own=lambda x: x, after=[gate], in_order=in_order))
        assert got == expected


def test_workers_start_once_their_warm_up_is_done():
    gate: Future = Future()
    release = threading.Event()
    submitted = []

    def blocked(x):
        release.wait(5)
        return ("worker", x)

    def submit(pool, x):
        submitted.append(x)
        return pool.submit(blocked, x)

    with ThreadPoolExecutor(1) as pool:
        it = _shared(pool, deque(range(20)), 1, submit=submit, own=lambda x: ("own", x), after=[gate], depth=2)
        first = [next(it) for _ in range(3)]
        assert submitted == [] and [w for w, _ in first] == ["own"] * 3
        gate.set_result(None)  # the warm-up ends: the worker is given two items at once
        assert submitted == [0, 1]
        release.set()
        rest = list(it)
    assert sorted(v for _, v in first + rest) == list(range(20))


def test_near_the_end_a_worker_holds_one_item():
    held = []
    lock = threading.Lock()
    running = [0]
    release = threading.Event()

    def slow(x):
        release.wait(5)
        with lock:
            running[0] -= 1
        return ("worker", x)

    def submit(pool, x):
        with lock:
            running[0] += 1
            held.append(running[0])
        return pool.submit(slow, x)

    with ThreadPoolExecutor(2) as pool:
        it = _shared(pool, deque(range(3)), 1, submit=submit, own=lambda x: ("own", x), depth=2)
        got = [next(it)]  # 3 items, depth 2: once one is given, 2 remain (≤ 2 × 1): the worker holds one
        assert held == [1]
        release.set()
        got += list(it)
    assert sorted(v for _, v in got) == [0, 1, 2]


def test_a_failed_item_stops_the_loop_and_no_item_is_submitted_after():
    submitted = []

    def boom(x):
        if x == 3:
            raise RuntimeError("chunk 3 failed")
        return x

    def submit(pool, x):
        submitted.append(x)
        return pool.submit(boom, x)

    with ThreadPoolExecutor(1) as pool:
        with pytest.raises(RuntimeError, match="chunk 3 failed"):
            for _ in _shared(pool, deque(range(100)), 1, submit=submit, own=boom, in_order=True, depth=2):
                pass
        n = len(submitted)
    # the pool has finished what it held (its done-callbacks ran): none launched another item
    assert n < 100 and len(submitted) == n


def test_in_order_feed_keeps_near_tables_in_memory_and_reads_far_ones_back():
    import pyarrow as pa

    from aimc_dse.sweep.runner import HOLD_AHEAD, _InOrder

    class Store:  # every chunk is in its file before it is fed
        def __init__(self):
            self.reads = []

        def read(self, k):
            self.reads.append(k)
            return pa.table({"k": [k]})

    class Sink:
        def __init__(self):
            self.written = []

        def write(self, table):
            self.written.append(table["k"][0].as_py())

    class Summary:
        def add_table(self, table):
            pass

    n = HOLD_AHEAD + 4
    store, sink = Store(), Sink()
    feed = _InOrder(store, sink, Summary(), set(), n, None)
    far = HOLD_AHEAD + 2
    for k in [far, 2, 1] + [k for k in range(3, n) if k != far] + [0]:  # chunk 0 comes last
        feed.add(k, pa.table({"k": [k]}))
        assert len(feed.held) <= HOLD_AHEAD + 1
    assert sink.written == list(range(n))
    # those more than HOLD_AHEAD ahead of chunk 0 waited on disk and were read back in turn
    assert store.reads == [k for k in range(n) if k > HOLD_AHEAD]
