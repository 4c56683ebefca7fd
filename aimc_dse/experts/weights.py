"""Routed-expert weights from a checkpoint, and their MaxNNScore (Chowdhury et al., arXiv 2603.02633).

Reads a ``.safetensors`` file (or a folder of shards) through ``safetensors.safe_open(...,
framework="np")``, or an ``.npz`` archive, one tensor at a time, so multi-GB checkpoints
never sit in memory. Recognised tensor names (Hugging Face layouts):

* Mixtral: ``model.layers.{l}.block_sparse_moe.experts.{e}.w1|w3|w2.weight`` (gate, up, down);
* OLMoE, DeepSeek-MoE, Qwen-MoE: ``model.layers.{l}.mlp.experts.{e}.gate_proj|up_proj|down_proj.weight``;
  shared experts (``mlp.shared_experts.*`` / ``mlp.shared_expert.*``) are recognised and
  counted but not scored (they are always active; ``workload.digital.shared_experts`` places them).

A plain (non-gated) expert has only ``up_proj`` and ``down_proj``; Mixtral's ``w1``/``w3``/``w2``
always mean gate/up/down. The leading ``model.`` is optional.

Dtypes: F32, F16 and F64 through safetensors' numpy API; **BF16** (which numpy has no type
for) is read from the file's raw bytes — the 8-byte header length, the JSON header's
``data_offsets`` — and widened exactly to float32 (a bf16 value is the top 16 bits of an
fp32). Other dtypes (FP8, integers) are rejected with a one-line error.

MaxNNScore
----------
Hugging Face ``nn.Linear`` stores ``W`` as (out, in) and computes ``y = x Wᵀ``. A *neuron*
of a linear layer is one output unit o; its weight vector is row ``W[o, :]`` — the weights
feeding it, i.e. column o of the paper's (in × out) matrix, written ``W_{:,i}``. For each of
an expert's matrices (gate, up, down) we take the largest neuron norm
``max_o ‖W[o, :]‖₂`` and the score is their product:

    MaxNNScore(s) = ∏_{m ∈ {gate, up, down}} max_o ‖W_m[o, :]‖₂

This is the paper's "maximum neuron norm": in its two-layer analysis an expert is
Σ_r a_r σ(w_rᵀ x) and the neuron norms are ‖w_r‖ — the incoming weights of hidden unit r.
It is also what programming noise acts on: with ΔW of per-entry std σ, output o's error is
Σ_i ΔW[o,i] x_i, whose size grows with row o (weight-proportional noise, σ ∝ |W|) or with
max|W| — set by the largest rows — (range-proportional noise). ``neuron="input"`` takes
column norms ``max_i ‖W[:, i]‖₂`` instead, for sensitivity checks.
"""

from __future__ import annotations

import json
import re
import struct
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable, Iterator, Literal

import numpy as np

from ..specs.base import SpecError

Role = Literal["gate", "up", "down"]
ROLES: tuple[str, ...] = ("gate", "up", "down")

_EXPERT_RE = re.compile(
    r"^(?:model\.)?layers\.(\d+)\.(?:block_sparse_moe|mlp)\.experts\.(\d+)\."
    r"(w1|w2|w3|gate_proj|up_proj|down_proj)\.weight$"
)
_SHARED_RE = re.compile(r"^(?:model\.)?layers\.(\d+)\.mlp\.shared_experts?\.")
_ROLE = {"w1": "gate", "w3": "up", "w2": "down", "gate_proj": "gate", "up_proj": "up", "down_proj": "down"}
_SUPPORTED = {"F16", "F32", "F64", "BF16"}
_NP_DTYPE = {np.dtype(np.float16): "F16", np.dtype(np.float32): "F32", np.dtype(np.float64): "F64"}


@dataclass(frozen=True)
class ExpertTensor:
    """One routed-expert matrix in a checkpoint (shape as stored: (out, in))."""

    name: str
    layer: int
    expert: int
    role: str
    shape: tuple[int, ...]
    dtype: str
    file: str


@dataclass
class ExpertWeights:
    """Index of the routed-expert matrices of a checkpoint; loads them one at a time.

    ``experts[layer][expert][role]`` → :class:`ExpertTensor`. Use as a context manager, or
    call :meth:`close`.
    """

    source: str
    experts: dict[int, dict[int, dict[str, ExpertTensor]]] = field(default_factory=dict)
    shared_tensors: int = 0
    _npz: dict[str, object] = field(default_factory=dict, repr=False)
    _headers: dict[str, tuple[int, dict]] = field(default_factory=dict, repr=False)

    # ---- access -------------------------------------------------------------------------
    @property
    def layers(self) -> list[int]:
        return sorted(self.experts)

    def load(self, t: ExpertTensor) -> np.ndarray:
        """The matrix as float32 (or float64 if stored so), shape (out, in)."""
        try:
            if t.file in self._npz:
                a = np.asarray(self._npz[t.file][t.name])  # type: ignore[index]
            elif t.dtype == "BF16":
                a = _read_bf16(t.file, t.name, self._header(t.file))
            else:
                from safetensors import safe_open

                with safe_open(t.file, framework="np") as f:
                    a = f.get_tensor(t.name)
        except SpecError:
            raise
        except Exception as e:  # truncated file, bad offsets, …
            raise SpecError(t.file, t.name, f"cannot read tensor: {e}") from None
        if a.dtype == np.float16:
            a = a.astype(np.float32)
        finite = np.isfinite(a)
        if not finite.all():
            where = tuple(int(i) for i in np.argwhere(~finite)[0])
            bad = int((~finite).sum())
            raise SpecError(
                t.file, t.name, f"{bad:,} value(s) are NaN or infinite (first at index {list(where)}); the weights are corrupt"
            )
        return a

    def _header(self, file: str) -> tuple[int, dict]:
        if file not in self._headers:
            self._headers[file] = _safetensors_header(file)
        return self._headers[file]

    def close(self) -> None:
        for z in self._npz.values():
            z.close()  # type: ignore[attr-defined]
        self._npz.clear()

    def __enter__(self) -> "ExpertWeights":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- checks -------------------------------------------------------------------------
    def check_model(self, model) -> None:
        """Raise :class:`SpecError` unless the experts match ``model`` (a ModelSpec).

        Checks: the model is MoE; the file's expert layers are exactly the model's MoE
        layers; each has experts 0…E−1; each expert has gate/up/down (gated) or up/down
        (plain) matrices of shape (d_ff_expert, d_model) / (d_model, d_ff_expert).
        """
        src = self.source
        m = model.moe
        if m is None:
            raise SpecError(model.name, "moe", "the model is dense; `experts score` needs an MoE model")
        want_layers = [l for l in range(model.layers) if model.is_moe_layer(l)]
        have = self.layers
        if have != want_layers:
            extra = sorted(set(have) - set(want_layers))
            missing = sorted(set(want_layers) - set(have))
            first = f"layer {extra[0]} is not an MoE layer" if extra else f"no experts for MoE layer {missing[0]}"
            raise SpecError(
                src,
                None,
                f"experts in layers {_span(have)} but model {model.name} has MoE layers {_span(want_layers)} ({first})",
            )
        roles = ROLES if model.mlp == "gated" else ("up", "down")
        d, f = model.d_model, m.d_ff_expert
        shapes = {"gate": (f, d), "up": (f, d), "down": (d, f)}
        for l in have:
            idx = sorted(self.experts[l])
            if idx != list(range(m.experts)):
                if len(idx) != m.experts:
                    problem = f"layer {l} has {len(idx)} experts, model {model.name} has {m.experts}"
                else:
                    problem = f"layer {l}: expert indices {idx[0]}…{idx[-1]} are not 0…{m.experts - 1}"
                raise SpecError(src, None, problem)
            for e in idx:
                mats = self.experts[l][e]
                for r in roles:
                    if r not in mats:
                        raise SpecError(src, None, f"layer {l} expert {e}: no {r} matrix (model {model.name} is {model.mlp})")
                extra_roles = sorted(set(mats) - set(roles))
                if extra_roles:
                    raise SpecError(
                        src, mats[extra_roles[0]].name, f"a {extra_roles[0]} matrix, but model {model.name} has plain (up, down) experts"
                    )
                for r in roles:
                    t = mats[r]
                    if t.shape != shapes[r]:
                        raise SpecError(
                            src,
                            t.name,
                            f"shape {list(t.shape)}, expected {list(shapes[r])} (out, in) for d_model {d}, "
                            f"d_ff_expert {f} of model {model.name}",
                        )


# ---- opening files ------------------------------------------------------------------------

def open_weights(path: str | Path) -> ExpertWeights:
    """Index the routed-expert matrices of a ``.safetensors``/``.npz`` file or a folder of them.

    Raises :class:`SpecError` for a missing/unreadable file, an unsupported dtype, a tensor
    that is not 2-D, or a file without any recognised expert tensor.
    """
    p = Path(path)
    src = str(path)
    if not p.exists():
        raise SpecError(src, None, "file not found")
    if p.is_dir():
        by_kind = {k: sorted(q for q in p.iterdir() if q.is_file() and q.suffix.lower() == k) for k in (".safetensors", ".npz")}
        if by_kind[".safetensors"] and by_kind[".npz"]:  # one checkpoint is one format: which shards belong?
            raise SpecError(src, None, f"folder holds both .safetensors ({len(by_kind['.safetensors'])}) and .npz "
                            f"({len(by_kind['.npz'])}) files; keep one checkpoint's shards in it")
        files = by_kind[".safetensors"] or by_kind[".npz"]
        if not files:
            raise SpecError(src, None, "folder holds no .safetensors or .npz files")
    else:
        files = [p]
    ew = ExpertWeights(source=src)
    seen: dict[str, str] = {}
    try:
        for f in files:
            for name, shape, dtype in _list_tensors(f, ew):
                if name in seen:
                    raise SpecError(str(f), name, f"tensor also in {seen[name]}")
                seen[name] = str(f)
                _index(ew, name, shape, dtype, str(f))
    except BaseException:
        ew.close()
        raise
    if not ew.experts:
        ew.close()
        raise SpecError(
            src,
            None,
            "no routed-expert tensors found (expected names like model.layers.0.mlp.experts.0.up_proj.weight "
            "or model.layers.0.block_sparse_moe.experts.0.w1.weight)",
        )
    return ew


def _list_tensors(f: Path, ew: ExpertWeights) -> Iterator[tuple[str, tuple[int, ...], str]]:
    src = str(f)
    if f.suffix.lower() == ".npz":
        try:
            z = np.load(f, allow_pickle=False)
        except Exception as e:
            raise SpecError(src, None, f"not a readable .npz archive ({_first_line(e)})") from None
        if not isinstance(z, np.lib.npyio.NpzFile):
            raise SpecError(src, None, "not an .npz archive")
        ew._npz[src] = z
        for name in z.files:
            if not _is_expert_name(name):
                continue
            # .npz members are read lazily; the header gives shape and dtype without the data
            shape, dtype = _npz_member_info(z, name)
            yield name, shape, _NP_DTYPE.get(dtype, str(dtype))
        return
    if f.suffix.lower() != ".safetensors":
        raise SpecError(src, None, "expected a .safetensors or .npz file (or a folder of them)")
    from safetensors import safe_open

    try:
        with safe_open(src, framework="np") as h:
            for name in h.keys():
                if not _is_expert_name(name):
                    continue
                sl = h.get_slice(name)
                yield name, tuple(int(x) for x in sl.get_shape()), str(sl.get_dtype())
    except SpecError:
        raise
    except Exception as e:
        raise SpecError(src, None, f"not a readable safetensors file ({_first_line(e)})") from None


def _npz_member_info(z, name: str) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an .npz member from its .npy header (no data read)."""
    try:
        with z.zip.open(name + ".npy") as fh:
            version = np.lib.format.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = np.lib.format.read_array_header_1_0(fh)
            else:
                shape, _, dtype = np.lib.format.read_array_header_2_0(fh)
        return tuple(int(x) for x in shape), np.dtype(dtype)
    except Exception:
        a = z[name]
        return tuple(a.shape), a.dtype


def _is_expert_name(name: str) -> bool:
    return bool(_EXPERT_RE.match(name) or _SHARED_RE.match(name))


def _index(ew: ExpertWeights, name: str, shape: tuple[int, ...], dtype: str, file: str) -> None:
    if _SHARED_RE.match(name):
        ew.shared_tensors += 1
        return
    m = _EXPERT_RE.match(name)
    assert m is not None
    layer, expert, role = int(m.group(1)), int(m.group(2)), _ROLE[m.group(3)]
    if dtype not in _SUPPORTED:
        raise SpecError(file, name, f"dtype {dtype} is not supported (F32, F16, BF16, F64)")
    if len(shape) != 2:
        raise SpecError(file, name, f"expected a 2-D weight matrix, got shape {list(shape)}")
    slot = ew.experts.setdefault(layer, {}).setdefault(expert, {})
    if role in slot:
        raise SpecError(file, name, f"second {role} matrix for layer {layer} expert {expert} (also {slot[role].name})")
    slot[role] = ExpertTensor(name, layer, expert, role, shape, dtype, file)


def _span(ids: list[int]) -> str:
    if len(ids) > 1 and ids == list(range(ids[0], ids[-1] + 1)):
        return f"{ids[0]}…{ids[-1]}"
    return ", ".join(map(str, ids[:6])) + (" …" if len(ids) > 6 else "") if ids else "none"


def _first_line(e: BaseException) -> str:
    s = str(e).strip()
    return s.splitlines()[0] if s else type(e).__name__


# ---- raw safetensors access (BF16) ---------------------------------------------------------

def _safetensors_header(file: str) -> tuple[int, dict]:
    """(offset of the data section, header dict) of a safetensors file."""
    with open(file, "rb") as fh:
        raw = fh.read(8)
        if len(raw) != 8:
            raise SpecError(file, None, "truncated safetensors file")
        (n,) = struct.unpack("<Q", raw)
        try:
            header = json.loads(fh.read(n))
        except ValueError:
            raise SpecError(file, None, "malformed safetensors header") from None
    return 8 + n, header


def _read_bf16(file: str, name: str, header: tuple[int, dict]) -> np.ndarray:
    """One BF16 tensor as float32: its bytes only, widened exactly (bf16 = top half of fp32)."""
    base, h = header
    info = h[name]
    start, end = info["data_offsets"]
    shape = tuple(int(x) for x in info["shape"])
    count = int(np.prod(shape)) if shape else 1
    if end - start != 2 * count:
        raise SpecError(file, name, f"BF16 data is {end - start} bytes, shape {list(shape)} needs {2 * count}")
    with open(file, "rb") as fh:
        fh.seek(base + start)
        buf = fh.read(end - start)
    if len(buf) != end - start:
        raise SpecError(file, name, "truncated tensor data")
    u16 = np.frombuffer(buf, dtype="<u2")
    return (u16.astype(np.uint32) << 16).view(np.float32).reshape(shape)


def bf16_bytes(a: np.ndarray) -> bytes:
    """float32 array → BF16 bytes (round to nearest even); for writing test checkpoints."""
    u = np.ascontiguousarray(a, dtype=np.float32).view(np.uint32)
    rounded = (u + 0x7FFF + ((u >> 16) & 1)) >> 16
    return rounded.astype("<u2").tobytes()


# ---- scores -------------------------------------------------------------------------------

def max_neuron_norm(w: np.ndarray, neuron: Literal["output", "input"] = "output") -> float:
    """Largest neuron L2 norm of a matrix stored (out, in): max_o ‖W[o, :]‖₂ (``output``),
    or max_i ‖W[:, i]‖₂ (``input``). Accumulated in float64."""
    axis = 1 if neuron == "output" else 0
    sq = np.einsum("ij,ij->i" if axis == 1 else "ij,ij->j", w, w, dtype=np.float64)
    return float(np.sqrt(sq.max())) if sq.size else 0.0


def maxnn_score(mats: dict[str, np.ndarray], neuron: Literal["output", "input"] = "output") -> float:
    """MaxNNScore of one expert: ∏ over its matrices of :func:`max_neuron_norm`."""
    return float(np.prod([max_neuron_norm(mats[r], neuron) for r in ROLES if r in mats]))


def iter_expert_matrices(ew: ExpertWeights, layer: int, expert: int) -> Iterable[tuple[str, np.ndarray]]:
    """(role, matrix) of one expert in gate, up, down order, loading one at a time."""
    for r in ROLES:
        t = ew.experts[layer][expert].get(r)
        if t is not None:
            yield r, ew.load(t)
