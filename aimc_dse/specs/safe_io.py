"""Reading input files safely: bounded size, bounded expansion, content recorded for resume.

Every file the tool reads on a user's behalf (spec, config, sweep, trace, selection file)
goes through :func:`read_input`, which

* refuses anything that is not a regular file or is larger than its kind's limit
  (``/dev/zero`` or a 10 GB "spec" never gets read into memory);
* reads the bytes once, so what is parsed is exactly what is hashed; and
* records ``(resolved path → SHA-256 of the bytes)`` in the active :func:`recording`, which
  is how a sweep's manifest knows the content of every file it depends on (``--resume``
  refuses to mix results of a file that has since changed).

:func:`parse_document` turns YAML/JSON text into plain data with the YAML "billion laughs"
and deep-nesting attacks bounded: a document may expand (aliases followed) to at most
``MAX_NODES`` values and nest at most ``MAX_DEPTH`` levels. PyYAML's ``safe_load`` builds
aliased nodes once and shares them, so loading is cheap; the expansion is counted by a
walk that stops at the budget, before anything (validation, deep copies, JSON dumps)
would traverse the shared structure in full.

YAML is parsed by libyaml (PyYAML's ``CSafeLoader``) when PyYAML was built with it, as the
wheels are: ~8× faster than the pure-Python loader (0.011 s against 0.092 s for the 44 YAML
files of the repository, which both parse to equal data). A one-point ``evaluate`` reads
its two presets in ~1 ms instead of ~8 ms, and a sweep resolves its specs sooner. libyaml
refuses nesting beyond 1,000 levels itself, as a YAML error; ``MAX_DEPTH`` refuses far less.
"""

from __future__ import annotations

import contextvars
import hashlib
import json
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import yaml

from .base import SpecError

MIB = 2**20
# Size limits per kind of input; far above any real file of that kind.
SIZE_LIMITS = {
    "spec": 8 * MIB,  # hardware/model/digital specs, HF config.json, sweep files
    "selection": 64 * MIB,  # expert-selection JSON (scores of every expert of every layer)
    "trace": 512 * MIB,  # gate traces .npy (layers × tokens × experts; real ones are tens of MB)
}
MAX_NODES = 1_000_000  # values a YAML/JSON document may expand to (aliases followed)
MAX_DEPTH = 64  # nesting levels of a document
class _UniqueKeys(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """The safe loader (libyaml's parser when PyYAML has it: the same data), refusing a key
    given twice in one mapping: YAML says keys are unique, and PyYAML would silently keep the
    last (``tiles: 200`` then ``tiles: 300`` gave 300). Keys a merge (``<<: *base``) brings in
    may still be overridden, as YAML intends."""

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    line = first.get(key)
                except TypeError:  # an unhashable key: the constructor's own error follows
                    continue
                if line is not None:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"the key {key!r} is given twice (first on line {line + 1})", key_node.start_mark)
                first[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep)


YAML_LOADER = _UniqueKeys

_recording: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar("aimc_dse_inputs", default=None)


@contextmanager
def recording() -> Iterator[dict[str, str]]:
    """Collect ``{resolved path: sha256}`` of every input read inside the block."""
    inputs: dict[str, str] = {}
    token = _recording.set(inputs)
    try:
        yield inputs
    finally:
        _recording.reset(token)


def note_recorded(inputs: dict[str, str]) -> None:
    """Add inputs recorded elsewhere (a worker process) to the active recording (if any)."""
    rec = _recording.get()
    if rec is not None:
        rec.update(inputs)


def note_input(path: str | Path, data: bytes) -> str:
    """Record one input's content hash in the active recording (if any); return the hash."""
    digest = hashlib.sha256(data).hexdigest()
    rec = _recording.get()
    if rec is not None:
        rec[str(Path(path).resolve())] = digest
    return digest


def file_digest(path: str | Path) -> str | None:
    """SHA-256 of a file's current content (None when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(MIB), b""):
                h.update(block)
    except OSError:
        return None
    return h.hexdigest()


def read_input(path: str | Path, kind: str = "spec") -> bytes:
    """The bytes of an input file, size-checked and recorded; SpecError naming the file otherwise."""
    p = Path(path)
    src = str(path)
    limit = SIZE_LIMITS[kind]
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise SpecError(src, None, "file not found") from None
    except NotADirectoryError:
        raise SpecError(src, None, "file not found (a part of the path is a file, not a folder)") from None
    except OSError as e:
        raise SpecError(src, None, f"cannot read: {e.strerror}") from None
    if stat.S_ISDIR(st.st_mode):
        raise SpecError(src, None, "is a folder, not a file")
    if not stat.S_ISREG(st.st_mode):
        raise SpecError(src, None, "is not a regular file")
    if st.st_size > limit:
        raise SpecError(src, None, f"is {st.st_size:,} bytes, more than the {limit:,} a {kind} file may have")
    try:
        with open(p, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise SpecError(src, None, f"cannot read: {e.strerror}") from None
    if len(data) > limit:  # grew while we looked
        raise SpecError(src, None, f"is more than the {limit:,} bytes a {kind} file may have")
    note_input(p, data)
    return data


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may still exist: False only when it surely does not. Another
    user's process, or a number no process can have, counts as alive, so what it left (a
    temporary file of a writer) is left alone."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True
    return True


def parse_document(data: bytes, src: str, json_syntax: bool = False) -> Any:
    """YAML (or JSON) bytes as plain data, with bounded expansion and depth; SpecError otherwise."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise SpecError(src, None, f"not a UTF-8 text file (byte {e.start} cannot be decoded); is it a binary file?") from None
    if "\x00" in text:
        raise SpecError(src, None, "not a text file (it contains NUL bytes)")
    try:
        doc = json.loads(text, object_pairs_hook=_unique_pairs) if json_syntax else yaml.load(text, Loader=YAML_LOADER)
    except RecursionError:
        raise SpecError(src, None, f"nested too deeply (more than {MAX_DEPTH} levels are refused)") from None
    except yaml.YAMLError as e:
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        if "maximum nesting depth" in problem:  # libyaml's own limit (1,000 levels): the same message as ours
            raise SpecError(src, None, f"nested too deeply (more than {MAX_DEPTH} levels are refused)") from None
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise SpecError(src, None, f"malformed YAML: {where}{problem}") from None
    except json.JSONDecodeError as e:
        raise SpecError(src, None, f"malformed JSON: line {e.lineno}, column {e.colno}: {e.msg}") from None
    except ValueError as e:  # e.g. an integer literal with too many digits
        raise SpecError(src, None, f"malformed {'JSON' if json_syntax else 'YAML'}: {str(e).splitlines()[0]}") from None
    check_expansion(doc, src)
    return doc


def _unique_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in pairs:
        if k in out:
            raise ValueError(f"the key {k!r} is given twice in one object")
        out[k] = v
    return out


def check_expansion(doc: Any, src: str) -> None:
    """SpecError when ``doc`` expands to more than MAX_NODES values or nests deeper than MAX_DEPTH.

    Iterative (no recursion), and it stops at the budget, so an alias bomb costs at most
    MAX_NODES steps however large its expansion.
    """
    count = 0
    stack: list[tuple[Any, int]] = [(doc, 0)]
    while stack:
        node, depth = stack.pop()
        count += 1
        if count > MAX_NODES:
            raise SpecError(
                src, None, f"expands to more than {MAX_NODES:,} values (YAML aliases/anchors multiply it); refused"
            )
        if depth > MAX_DEPTH:
            raise SpecError(src, None, f"nested too deeply (more than {MAX_DEPTH} levels are refused)")
        if isinstance(node, dict):
            for k, v in node.items():
                stack.append((k, depth + 1))
                stack.append((v, depth + 1))
        elif isinstance(node, (list, tuple, set)):
            for v in node:
                stack.append((v, depth + 1))
        elif isinstance(node, (bytes, bytearray)):
            raise SpecError(src, None, "binary values (!!binary) are not accepted")
        elif isinstance(node, str) and len(node) > 1_000_000:
            raise SpecError(src, None, "a text value is longer than 1,000,000 characters")
