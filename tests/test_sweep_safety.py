"""Sweeps that cannot be subverted or corrupted (issue 16): safe filters, one writer per output,
resume that knows its inputs, referenced files checked, a truthful and clean end.

Processes are waited for on conditions (a chunk file exists, a process is gone) with generous
timeouts, never on fixed sleeps, so the tests hold on a loaded machine.
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from aimc_dse.report.writer import ChunkStore, ResultSink, partial_dir, read_results
from aimc_dse.sweep import runner
from aimc_dse.sweep.grid import load_grid
from aimc_dse.sweep.runner import run_sweep

from .sweep_support import SMALL, entry_point, invoke, run, write_sweep

PAYLOAD_FILTERS = [
    "fits == true and (tokens_per_s).to_csv.__globals__['sys'].modules['os'].system('touch pwned') == 0",
    "(tokens_per_s).to_csv('pwned.csv')",
    "tokens_per_s.to_csv('pwned.csv') == 0",
    "__import__('os').system('touch pwned') == 0",
    "@pd.io.api.read_csv('x') == 1",
    "[c for c in ().__class__.__base__.__subclasses__()] == 1",
    "tokens_per_s > (lambda: 1)()",
    "getattr(tokens_per_s, 'to_csv')('pwned.csv') == 0",
]

# A slow grid for the runs we interrupt or race: many one-point chunks.
SLOW = {
    "name": "slow",
    "systems": ["nature-3d-aimc", "a100-sxm4-80gb"],
    "model": "olmoe-1b-7b",
    "workload": {"prompt_len": 16, "gen_len": 4},
    "axes": {"hw.tiles": [1024 + 256 * i for i in range(12)], "workload.batch": [1, 2, 4, 8, 16]},
}  # 12 × 5 + 5 = 65 points
SLOW_POINTS = 65


def default_sigint():
    """Child processes get SIGINT's default disposition even when the test run ignores it
    (background jobs, nohup, some CI runners): Python then installs its KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start(args, cwd, start_method: str | None = None) -> subprocess.Popen:
    env = None if start_method is None else {**os.environ, "AIMC_DSE_START_METHOD": start_method}
    return subprocess.Popen(
        entry_point() + [str(a) for a in args],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
    )


def wait_for(cond, proc: subprocess.Popen | None = None, timeout: float = 180.0, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while not cond():
        if proc is not None and proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"process ended (rc {proc.returncode}) before {what}: {err[-2000:]}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.01)


def chunks(out: Path) -> list[Path]:
    return sorted(partial_dir(out).glob("chunk-*.arrow"))


def one_line_error(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.strip()]
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


# ---- safe filters ------------------------------------------------------------------------


@pytest.mark.parametrize("payload", PAYLOAD_FILTERS)
def test_filter_payloads_in_a_sweep_file_exit_2_and_create_nothing(tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    path = write_sweep(tmp_path, dict(SMALL, filters=[payload]))
    for extra in ([], ["--dry-run"]):
        code, _, err = invoke(["sweep", path, "-o", "out.csv", "-j", "1", *extra])
        assert code == 2, err
        line = one_line_error(err)
        assert line.startswith(f"error: {path}: filters.0: ")
        assert "not allowed" in line or "syntax error" in line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"], "nothing created"


@pytest.fixture(scope="module")
def results_csv(tmp_path_factory):
    folder = tmp_path_factory.mktemp("res")
    out = folder / "r.csv"
    code, _, err = invoke(["sweep", write_sweep(folder, SMALL), "-o", out, "-j", "1", "-q"])
    assert code == 0, err
    return out


@pytest.mark.parametrize("payload", PAYLOAD_FILTERS)
def test_where_payloads_for_pareto_and_plot_exit_2_and_create_nothing(results_csv, tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    cmds = [
        ["pareto", results_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--where", payload],
        ["plot", results_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--where", payload, "-o", "f.png"],
    ]
    for args in cmds:
        code, _, err = invoke(args)
        assert code == 2, err
        assert "--where" in one_line_error(err)
    assert list(tmp_path.iterdir()) == [], "nothing created"


def test_the_filter_language_keeps_what_users_write(results_csv):
    for where, keep in [
        ("hw.kind == 'aimc'", lambda d: d["hw.kind"] == "aimc"),
        ("fits == true", lambda d: d["fits"]),
        ("fits == false", lambda d: ~d["fits"]),
        ("tokens_per_s > 100", lambda d: d["tokens_per_s"] > 100),
        ("hw.tiles in [1024] and not fits", lambda d: (d["hw.tiles"] == 1024) & ~d["fits"]),
        ("`model.name` != 'olmoe-1b-7b' or workload.batch >= 4", lambda d: (d["model.name"] != "olmoe-1b-7b") | (d["workload.batch"] >= 4)),
        ("log10(tokens_per_s) > 2 * 1", lambda d: np.log10(d["tokens_per_s"]) > 2),
    ]:
        code, out, err = invoke(["pareto", results_csv, "--x", "tokens_per_s", "--y", "area_mm2", "--all", "--where", where, "-f", "csv"])
        assert code == 0, (where, err)
        df = read_results(results_csv)  # constant knobs (hw.kind) put back from the sidecar
        want = df[keep(df).fillna(False).astype(bool)]
        got = pd.read_csv(__import__("io").StringIO(out)) if out.strip() else pd.DataFrame()
        assert len(got) <= len(want) and len(want) > 0, where  # the front is drawn from the kept rows
        if len(got):
            assert set(got["tokens_per_s"]) <= set(want["tokens_per_s"]), where


# ---- one writer per output --------------------------------------------------------------------


@pytest.fixture(scope="module")
def slow_ref(tmp_path_factory):
    """The SLOW sweep's uninterrupted, solo results (bytes)."""
    folder = tmp_path_factory.mktemp("slow")
    out = folder / "ref.csv"
    code, _, err = invoke(["sweep", write_sweep(folder, SLOW), "-o", out, "-j", "1", "--chunk-size", "1", "-q"])
    assert code == 0, err
    return out.read_bytes()


def test_a_second_run_on_the_same_output_exits_2_naming_the_holder(tmp_path, slow_ref):
    path = write_sweep(tmp_path, SLOW)
    out = tmp_path / "o.csv"
    args = ["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "-q"]
    first = start(args, tmp_path)
    try:
        wait_for(lambda: chunks(out), first, what="the first run's first chunk")
        # Pause the first run mid-way (it keeps its lock), so the race does not depend on speed.
        first.send_signal(signal.SIGSTOP)
        try:
            for extra in (["--force"], ["--resume"], []):
                r = run(args + extra, cwd=tmp_path, timeout=300)
                line = one_line_error(r.stderr)
                assert r.returncode == 2
                assert f"another aimc-dse run (PID {first.pid}) is writing this output" in line
        finally:
            first.send_signal(signal.SIGCONT)
        _, err = first.communicate(timeout=600)
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert first.returncode == 0, err
    assert out.read_bytes() == slow_ref, "the first run's output is exactly a solo run's"
    assert not partial_dir(out).exists()


def test_a_stale_lock_of_a_dead_process_is_taken_over(tmp_path, slow_ref):
    path = write_sweep(tmp_path, SLOW)
    out = tmp_path / "o.csv"
    folder = partial_dir(out)
    folder.mkdir()
    dead = subprocess.Popen(["true"])
    dead.wait()
    (folder / ChunkStore.LOCK).write_text(f"{dead.pid}\n")  # the file of a run that died; no flock held
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "-q"])
    assert code == 0, err
    assert out.read_bytes() == slow_ref
    assert not folder.exists()


def test_the_lock_survives_discarding_leftovers(tmp_path):
    """Clearing an earlier run's chunks must not delete the lock file another run may be probing."""
    folder = tmp_path / "p"
    folder.mkdir()
    (folder / ChunkStore.LOCK).write_text("1\n")
    (folder / "chunk-0000000.arrow").write_bytes(b"x")
    store = ChunkStore(folder)
    done, note = store.start({"n_chunks": 1}, resume=False)
    assert done == set() and "discarding 1" in note
    assert (folder / ChunkStore.LOCK).exists()


# ---- interruption, kill, resume --------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGKILL], ids=["sigint", "sigkill"])
def test_killed_sweep_resumes_to_the_same_bytes_even_when_sigint_is_ignored_by_the_parent(tmp_path, sig, slow_ref):
    """Like test_sweep_run's kill test, but started from a process that ignores SIGINT."""
    path = write_sweep(tmp_path, SLOW)
    out = tmp_path / "k.csv"
    args = ["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "-q"]
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)  # what a background job inherits
    try:
        proc = start(args, tmp_path)
    finally:
        signal.signal(signal.SIGINT, old)
    try:
        wait_for(lambda: chunks(out), proc, what="a chunk")
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    if sig == signal.SIGINT:
        assert proc.returncode == 130, err
        line = one_line_error(err)
        assert "--resume" in line and "finished chunk(s) are kept" in line
    else:
        assert proc.returncode == -signal.SIGKILL
    assert not out.exists()
    assert 1 <= len(chunks(out)) < SLOW_POINTS
    code, _, err = invoke(args + ["--resume"])
    assert code == 0, err
    assert out.read_bytes() == slow_ref
    assert not partial_dir(out).exists()


def test_interrupt_after_the_output_is_complete_says_so(tmp_path, monkeypatch):
    path = write_sweep(tmp_path, SMALL)
    out = tmp_path / "o.csv"
    real = ResultSink.close

    def close_then_ctrl_c(self):
        real(self)
        raise KeyboardInterrupt  # just after os.replace put the output in place

    monkeypatch.setattr(ResultSink, "close", close_then_ctrl_c)
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "-q"])
    assert code == 130
    line = one_line_error(err)
    assert line == f"interrupted after the results were complete: {out} was written in full"
    assert out.exists() and len(pd.read_csv(out)) > 0
    assert not partial_dir(out).exists()


def test_interrupt_before_any_chunk_leaves_nothing(tmp_path, monkeypatch):
    path = write_sweep(tmp_path, SMALL)
    out = tmp_path / "o.csv"

    def ctrl_c(*a, **kw):
        raise KeyboardInterrupt

    monkeypatch.setattr(runner, "evaluate_chunk", ctrl_c)
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "-q"])
    assert code == 130
    assert "nothing to resume" in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]


def test_stale_temporary_files_are_removed_by_the_next_run(tmp_path):
    path = write_sweep(tmp_path, SMALL)
    out = tmp_path / "o.csv"
    spec, grid = load_grid(path)

    def stop(k):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out, jobs=1, quiet=True, chunk_size=4, on_chunk=stop)
    folder = partial_dir(out)
    (folder / "output.tmp.csv").write_text("half an output of a run killed while assembling")
    (folder / "chunk-0000005.arrow.tmp").write_bytes(b"half a chunk")
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "4", "-q", "--resume"])
    assert code == 0, err
    assert not folder.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.constants.csv", "o.csv", "sweep.yaml"]


def children(pid: int) -> list[int]:
    """The child processes of ``pid`` (Linux)."""
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def outliving(pids: list[int], timeout_s: float = 120.0) -> list[int]:
    """The processes of ``pids`` still alive (not zombies) after waiting up to ``timeout_s``."""

    def alive(pid: int) -> bool:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            return False
        return state != "Z"

    deadline = time.monotonic() + timeout_s
    while any(alive(p) for p in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    return [p for p in pids if alive(p)]


def workers_left_after_kill(proc: subprocess.Popen, ready, what: str) -> tuple[list[int], list[str]]:
    """Once ``ready()``, kill -9 the sweep ``proc``: (its child processes then, the command lines
    of those still alive 120 s later, which are then killed)."""
    try:
        wait_for(ready, proc, what=what)
        workers = children(proc.pid)
        proc.kill()
        proc.wait()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pipe in (proc.stdout, proc.stderr):  # nothing more will be read from a killed sweep
            if pipe is not None:
                pipe.close()
    cmds = []
    for p in outliving(workers):
        try:
            cmds.append(Path(f"/proc/{p}/cmdline").read_bytes().replace(b"\0", b" ")[:200].decode(errors="replace"))
        except OSError:
            cmds.append(str(p))
        os.kill(p, signal.SIGKILL)
    return workers, cmds


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_workers_exit_when_the_sweep_process_is_killed(tmp_path, method):
    # A long grid (we kill it early): the workers are surely busy when we look at them.
    path = write_sweep(tmp_path, dict(SLOW, axes=dict(SLOW["axes"], **{"hw.tiles": [1024 + 64 * i for i in range(200)]})))
    out = tmp_path / "w.csv"
    proc = start(["sweep", path, "-o", out, "-j", "2", "--chunk-size", "1", "-q"], tmp_path, method)
    own = Path(f"/proc/{proc.pid}/cmdline").read_bytes()
    seen: dict[int, list[bool]] = {}  # per child: its command line was the sweep's, at each look

    def cmdline(p: int) -> bytes | None:
        try:
            return Path(f"/proc/{p}/cmdline").read_bytes()
        except OSError:  # a child that ended between the listing and the read
            return None

    def ready() -> bool:
        kids = children(proc.pid)
        for p in kids:
            line = cmdline(p)
            if line is not None:
                seen.setdefault(p, []).append(line == own)
        # every child looked at twice: a spawned one shows the sweep's command line only
        # between its fork and its exec, a forked one keeps it
        return len(chunks(out)) >= 2 and all(len(seen.get(p, ())) >= 2 for p in kids)

    workers, left = workers_left_after_kill(proc, ready, "chunks from the workers")
    assert workers, "the sweep started worker processes"
    # a forked worker runs the sweep's own command line; loky's run their own
    forks = {p: all(looks) for p, looks in seen.items() if len(looks) >= 2}
    assert any(forks.values()) == (method == "fork"), forks
    assert not left, f"workers outlived the killed sweep: {left}"


def test_workers_started_early_exit_when_the_sweep_is_killed_while_they_import(tmp_path):
    """A big grid starts its workers before the grid is built; a kill -9 that comes while they
    still import must not leave them behind (their watchdog starts after the imports, when
    the sweep process is already gone). Spawned workers import; forked ones do not."""
    tiles = {"start": 256, "stop": 256 + 64 * 9999, "num": 10_000}
    path = write_sweep(tmp_path, {"name": "early", "systems": ["nature-3d-aimc", "hermes-3d"], "models": ["mixtral-8x7b"],
                                  "axes": {"hw.tiles": tiles, "workload.batch": {"pow2": [1, 64]}, "workload.gen_len": [8, 64]}})
    proc = start(["sweep", path, "-o", tmp_path / "e.parquet", "-j", "2", "-q"], tmp_path, "spawn")
    _, left = workers_left_after_kill(proc, lambda: len(children(proc.pid)) >= 2, "worker processes")
    assert not left, f"workers outlived a sweep killed while they imported: {left}"


def test_a_worker_whose_killed_sweep_is_not_yet_reaped_exits_when_it_starts_watching(tmp_path):
    """A spawned worker finishing its imports after a kill -9 of the sweep, before whatever
    started the sweep has waited for it: the sweep is then a zombie, which ``kill(pid, 0)``
    still finds. The worker must take it for dead, not return from its initializer
    unwatched (a loky worker would idle on for its 300 s timeout)."""
    program = (
        "import os, time\n"
        "from aimc_dse.sweep.runner import _watch_parent\n"
        "owner = os.getpid()\n"
        "if os.fork() == 0:\n"
        "    deadline = time.monotonic() + 120\n"
        "    while os.getppid() == owner and time.monotonic() < deadline:  # until the owner is killed\n"
        "        time.sleep(0.01)\n"
        "    _watch_parent(owner)\n"
        "    print('survived', flush=True)\n"
        "    os._exit(0)\n"
        "print('ready', flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", program], stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        os.kill(proc.pid, signal.SIGKILL)  # not reaped (no wait) until the worker has decided
        rest = proc.stdout.read()  # the end of the pipe: the worker has exited
        state = Path(f"/proc/{proc.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()
    assert state == "Z", "the sweep process was a zombie while the worker looked at it"
    assert rest == "", "the worker went on after its sweep process died"


# ---- resume knows its inputs -------------------------------------------------------------------


def trace_sweep(folder: Path, trace: Path) -> Path:
    data = {
        "name": "traced",
        "systems": ["nature-3d-aimc"],
        "model": "olmoe-1b-7b",
        "workload": {
            "prompt_len": 16,
            "gen_len": 4,
            "expert_load": {"model": "trace", "trace": str(trace)},
            "grouping": {"schedule": "compact"},
        },
        "axes": {"hw.sharing.group_size": [2, 4], "workload.batch": [1, 2, 4]},
    }
    return write_sweep(folder, data)


def write_trace(path: Path, seed: int, experts: int = 64) -> None:
    from aimc_dse.moe.routing import synth_choices

    np.save(path, synth_choices(experts, 8, 64, layers=2, seed=seed))


def test_resume_after_a_referenced_trace_changed_is_refused_naming_it(tmp_path):
    trace = tmp_path / "trace.npy"
    write_trace(trace, seed=1)
    path = trace_sweep(tmp_path, trace)
    out = tmp_path / "t.csv"
    spec, grid = load_grid(path)
    assert str(trace.resolve()) in grid.inputs and str(path.resolve()) in grid.inputs

    def stop(k):
        if k >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out, jobs=1, quiet=True, chunk_size=1, on_chunk=stop)
    assert len(chunks(out)) == 2
    write_trace(trace, seed=2)  # same shape, other routing
    args = ["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "-q"]
    code, _, err = invoke(args + ["--resume"])
    assert code == 2
    line = one_line_error(err)
    assert line.startswith(f"error: {trace.resolve()}: has changed since the interrupted run")
    assert len(chunks(out)) == 2, "the refused resume keeps the finished chunks"
    code, _, err = invoke(args)
    assert code == 0, err
    fresh = tmp_path / "fresh.csv"
    assert invoke(["sweep", path, "-o", fresh, "-j", "1", "--chunk-size", "1", "-q"])[0] == 0
    assert out.read_bytes() == fresh.read_bytes()


def test_resume_with_unchanged_inputs_reuses_chunks(tmp_path):
    trace = tmp_path / "trace.npy"
    write_trace(trace, seed=1)
    path = trace_sweep(tmp_path, trace)
    out = tmp_path / "t.csv"
    spec, grid = load_grid(path)

    def stop(k):
        if k >= 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_sweep(spec, grid, out, jobs=1, quiet=True, chunk_size=1, on_chunk=stop)
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "1", "-q", "--resume"])
    assert code == 0, err
    assert "2 chunk(s) reused" in err


@pytest.mark.parametrize(
    "make, fragment",
    [
        (lambda d: d / "missing.npy", "missing.npy: file not found"),
        (lambda d: (write_trace(d / "t32.npy", 1, experts=32), d / "t32.npy")[1], "the trace has 32 experts per layer, the model 64"),
        (lambda d: ((d / "junk.npy").write_text("not an array"), d / "junk.npy")[1], "not a readable .npy array"),
    ],
    ids=["missing", "wrong-experts", "junk"],
)
def test_a_bad_referenced_trace_is_bad_input_before_anything_runs(tmp_path, make, fragment):
    trace = make(tmp_path)
    path = trace_sweep(tmp_path, trace)
    for extra in ([], ["--dry-run"]):
        code, _, err = invoke(["sweep", path, "-o", tmp_path / "t.csv", "-j", "1", *extra])
        assert code == 2, err
        assert fragment in one_line_error(err)
    assert not (tmp_path / "t.csv").exists() and not partial_dir(tmp_path / "t.csv").exists()


def test_a_missing_or_mismatched_selection_file_is_bad_input(tmp_path):
    base = ["evaluate", "--hw", "nature-3d-aimc", "--model", "olmoe-1b-7b", "--set", "hw.digital=hermes-14nm-digital",
            "--set", "workload.digital.fraction=0.125"]
    code, _, err = invoke(base + ["--set", f"workload.digital.selection_file={tmp_path / 'none.json'}"])
    assert code == 2 and "none.json: file not found" in one_line_error(err)
    sel = tmp_path / "sel.json"
    sel.write_text('{"schema": "aimc-dse/expert-selection/1", "scores": {"0": [1.0, 2.0]}}')
    code, _, err = invoke(base + ["--set", f"workload.digital.selection_file={sel}"])
    assert code == 2 and "do not match the MoE layers" in one_line_error(err)


# ---- bad environments: output paths, disk full, scheduler ---------------------------------------


def test_output_paths_under_a_file_or_onto_a_folder_exit_2(tmp_path):
    path = write_sweep(tmp_path, SMALL)
    (tmp_path / "afile").write_text("x")
    (tmp_path / "adir.csv").mkdir()
    for out, fragment in [
        (tmp_path / "afile" / "o.csv", "afile is a file, not a folder"),
        (tmp_path / "adir.csv", "is a folder"),
    ]:
        for extra in ([], ["--force"]):
            code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", *extra])
            assert code == 2 and fragment in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir.csv", "afile", "sweep.yaml"]


def test_disk_full_exits_2_and_keeps_finished_chunks(tmp_path, monkeypatch):
    path = write_sweep(tmp_path, SMALL)
    out = tmp_path / "o.csv"
    real = ChunkStore.write
    calls = []

    def write(self, k, table):
        calls.append(k)
        if len(calls) > 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        real(self, k, table)

    monkeypatch.setattr(ChunkStore, "write", write)
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "4", "-q"])
    assert code == 2
    line = one_line_error(err)
    assert "disk is full" in line and "--resume" in line
    assert not out.exists() and len(chunks(out)) == 2
    monkeypatch.setattr(ChunkStore, "write", real)
    code, _, err = invoke(["sweep", path, "-o", out, "-j", "1", "--chunk-size", "4", "-q", "--resume"])
    assert code == 0, err


def test_an_unreachable_scheduler_fails_fast_with_one_line(tmp_path):
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    path = write_sweep(tmp_path, SMALL)
    for addr, fragment in [(f"tcp://127.0.0.1:{port}", "cannot reach a dask scheduler"), ("not an address", "expected an address")]:
        code, _, err = invoke(["sweep", path, "-o", tmp_path / "o.csv", "--scheduler", addr])
        assert code == 2 and fragment in one_line_error(err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["sweep.yaml"]


# ---- other outputs refuse to overwrite --------------------------------------------------------


def test_plot_and_experts_score_refuse_to_overwrite_without_force(results_csv, tmp_path):
    fig = tmp_path / "f.png"
    fig.write_text("precious")
    code, _, err = invoke(["plot", results_csv, "--x", "tokens_per_s", "--y", "area_mm2", "-o", fig])
    assert code == 2 and one_line_error(err) == f"error: {fig}: already exists; pass --force to overwrite it"
    assert fig.read_text() == "precious"
    code, _, err = invoke(["plot", results_csv, "--x", "tokens_per_s", "--y", "area_mm2", "-o", fig, "--force"])
    assert code == 0, err and fig.read_bytes()[:4] == b"\x89PNG"
    sel = tmp_path / "sel.json"
    sel.write_text("precious")
    code, _, err = invoke(["experts", "score", tmp_path / "w.npz", "--model", "olmoe-1b-7b", "-o", sel])
    assert code == 2 and "already exists; pass --force" in one_line_error(err)
    assert sel.read_text() == "precious"


def test_plot_log_axes_with_non_positive_values_draw_symlog(tmp_path):
    # values ≤ 0 on a log axis: drawn on a symlog axis that says so, every point counted (no traceback)
    t = tmp_path / "t.csv"
    t.write_text("a,b\n1,2\n0,3\n-1,4\n")
    code, _, err = invoke(["plot", t, "--x", "a", "--y", "b", "--log", "-o", tmp_path / "f.png"])
    assert code == 0 and "3 of 3 rows drawn; symlog x" in err and "Traceback" not in err
    assert (tmp_path / "f.png").stat().st_size > 0


def test_stale_selection_temp_files_of_dead_writers_are_removed(tmp_path):
    from aimc_dse.experts.selection import write_json_atomic

    dead = subprocess.Popen(["true"])
    dead.wait()
    stale = tmp_path / f".sel.json.{dead.pid}.abc123.tmp"
    stale.write_text("{")
    live = tmp_path / f".sel.json.{os.getpid()}.def456.tmp"
    live.write_text("{")
    write_json_atomic(tmp_path / "sel.json", {"a": 1})
    assert not stale.exists() and live.exists()


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_a_big_sweep_refused_once_its_workers_started_says_one_line(tmp_path, method):
    # A grid this big starts its workers before it is built; the run is then refused (the
    # output exists): the workers must end with it, without noise at interpreter exit.
    tiles = {"start": 256, "stop": 256 + 64 * 2999, "num": 3000}
    path = write_sweep(tmp_path, {"name": "big", "systems": ["nature-3d-aimc"], "model": "mixtral-8x7b",
                                  "axes": {"hw.tiles": tiles, "workload.batch": {"pow2": [1, 64]},
                                           "workload.gen_len": list(range(8, 18))}})
    out = tmp_path / "big.parquet"
    out.write_bytes(b"an earlier result")
    proc = start(["sweep", path, "-o", out, "-j", "2", "-q"], tmp_path, method)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 2, err
    assert err.strip().count("\n") == 0 and "already exists" in err, err
    assert out.read_bytes() == b"an earlier result"
