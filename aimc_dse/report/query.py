"""Row filters written the way users think of them: ``fits == true``, ``hw.tiles >= 200``.

Used by sweep files (``filters:``) and by ``pareto``/``plot --where``. A filter is a small,
safe expression language — parsed with :mod:`ast`, checked against a whitelist, evaluated
with numpy on the columns. Nothing is ever handed to ``eval`` or ``DataFrame.eval``, so a
sweep file shared by a colleague cannot run code or touch files (issue 16).

Grammar (Python syntax, restricted):

* column names, dotted allowed (``hw.tiles``, ``energy_nj.mvm``); a name with other
  characters in backticks (```vs.a100-sxm4-80gb.tokens_per_s```);
* literals: numbers, quoted strings, ``true``/``false`` (also ``True``/``False``), ``inf``;
* comparisons ``== != < <= > >=`` (chains allowed), ``in`` / ``not in`` with a literal list;
* ``and``, ``or``, ``not`` (and ``&``, ``|``, ``~`` on conditions);
* arithmetic ``+ - * / // % **`` and the functions ``abs``, ``log10``, ``log``, ``sqrt``.

Anything else — attribute access that is not a column name, calls of other functions,
subscripts, lambdas, comprehensions, dunder names — is a :class:`QueryError` naming the
offending part. Missing values (a column another system lacks) compare false, as in pandas.
"""

from __future__ import annotations

import ast
import difflib
import re
from functools import lru_cache
from typing import Any

import numpy as np
import pandas as pd

MAX_LENGTH = 2000  # characters of one expression
MAX_NODES = 500  # syntax-tree nodes of one expression


class QueryError(ValueError):
    """A filter expression that cannot be applied (unknown column, bad syntax, not allowed, not a condition)."""


_FUNCTIONS = {"abs": np.abs, "log10": np.log10, "log": np.log, "sqrt": np.sqrt}
_LITERAL_NAMES = {"true": True, "false": False, "True": True, "False": False, "inf": np.inf}
_BINOPS = {
    ast.Add: np.add,
    ast.Sub: np.subtract,
    ast.Mult: np.multiply,
    ast.Div: np.true_divide,
    ast.FloorDiv: np.floor_divide,
    ast.Mod: np.mod,
    ast.Pow: np.power,
}
_BITOPS = {ast.BitAnd: np.logical_and, ast.BitOr: np.logical_or}
_CMPOPS = {
    ast.Eq: np.equal,
    ast.NotEq: np.not_equal,
    ast.Lt: np.less,
    ast.LtE: np.less_equal,
    ast.Gt: np.greater,
    ast.GtE: np.greater_equal,
}
_PLACEHOLDER = "ǂq"  # backticked names become ǂq0, ǂq1 … (a letter no filter uses)
_BACKTICK = re.compile(r"`([^`]*)`")
_QUOTED = re.compile(r"""('(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")""")


def _snippet(text: str, node: ast.AST, names: dict[str, str]) -> str:
    seg = ast.get_source_segment(text, node) or type(node).__name__
    for k, v in names.items():
        seg = seg.replace(k, f"`{v}`")
    seg = " ".join(seg.split())
    return seg if len(seg) <= 60 else seg[:57] + "…"


def _dotted(node: ast.AST) -> str | None:
    """``a.b.c`` as a column name, or None when the node is not a plain dotted name."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


class _Parsed:
    """A checked expression: its tree, the source text and the backticked names."""

    def __init__(self, tree: ast.Expression, text: str, names: dict[str, str]):
        self.tree, self.text, self.names = tree, text, names
        self.columns: list[str] = []

    def column_of(self, node: ast.AST) -> str | None:
        name = _dotted(node)
        if name is None:
            return None
        return self.names.get(name, name)


def _reject(p: _Parsed, node: ast.AST, what: str) -> QueryError:
    return QueryError(f"{what} is not allowed in a filter: {_snippet(p.text, node, p.names)}")


@lru_cache(maxsize=256)
def parse(expr: str) -> _Parsed:
    """Parse and check a filter expression against the whitelist (QueryError otherwise)."""
    if not isinstance(expr, str) or not expr.strip():
        raise QueryError("empty filter")
    if len(expr) > MAX_LENGTH:
        raise QueryError(f"longer than {MAX_LENGTH} characters")
    if _PLACEHOLDER in expr:
        raise QueryError(f"the character {_PLACEHOLDER[0]!r} is not allowed")
    # Backticked names become placeholders; quoted strings are left alone.
    names: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        key = f"{_PLACEHOLDER}{len(names)}"
        names[key] = m.group(1)
        return key

    pieces = _QUOTED.split(expr)
    pieces = [piece if i % 2 else _BACKTICK.sub(sub, piece) for i, piece in enumerate(pieces)]
    if any("`" in piece for piece in pieces[::2]):
        raise QueryError("unmatched backtick")
    text = "".join(pieces)
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        col = f" at column {e.offset}" if e.offset else ""
        raise QueryError(f"syntax error{col}: {e.msg}") from None
    except (RecursionError, MemoryError, ValueError):
        raise QueryError("too deeply nested") from None
    p = _Parsed(tree, text.strip(), names)
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise QueryError(f"too long (more than {MAX_NODES} terms)")
    # Dunder names anywhere are refused first: they are the way out of any sandbox.
    for node in nodes:
        ident = node.id if isinstance(node, ast.Name) else node.attr if isinstance(node, ast.Attribute) else None
        if ident is not None and "__" in ident:
            raise QueryError(f"the name {ident!r} is not allowed in a filter")
    _check(p, tree.body, top=True)
    return p


def _check(p: _Parsed, node: ast.AST, top: bool = False) -> None:
    """Whitelist walk (recording the column names used)."""
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or isinstance(node.value, (int, float, str)):
            return
        raise _reject(p, node, "this literal")
    if isinstance(node, (ast.Name, ast.Attribute)):
        name = p.column_of(node)
        if name is None:
            raise _reject(p, node, "attribute access")
        if name not in _LITERAL_NAMES and name not in p.columns:
            p.columns.append(name)
        return
    if isinstance(node, ast.BoolOp):
        for v in node.values:
            _check(p, v)
        return
    if isinstance(node, ast.UnaryOp):
        if not isinstance(node.op, (ast.Not, ast.USub, ast.UAdd, ast.Invert)):
            raise _reject(p, node, "this operator")
        _check(p, node.operand)
        return
    if isinstance(node, ast.BinOp):
        if type(node.op) not in _BINOPS and type(node.op) not in _BITOPS:
            raise _reject(p, node, "this operator")
        _check(p, node.left)
        _check(p, node.right)
        return
    if isinstance(node, ast.Compare):
        _check_compare(p, node)
        return
    if isinstance(node, ast.Call):
        _check_call(p, node)
        return
    raise _reject(p, node, _forbidden(node))


def _check_compare(p: _Parsed, node: ast.Compare) -> None:
    _check(p, node.left)
    for op, right in zip(node.ops, node.comparators):
        if isinstance(op, (ast.In, ast.NotIn)):
            if not isinstance(right, (ast.List, ast.Tuple, ast.Set)) or not all(
                isinstance(e, ast.Constant) and isinstance(e.value, (bool, int, float, str)) for e in right.elts
            ):
                raise _reject(p, right, "`in` needs a list of literals, e.g. [1, 2]; this")
            continue
        if type(op) not in _CMPOPS:
            raise _reject(p, node, "this comparison")
        _check(p, right)


def _check_call(p: _Parsed, node: ast.Call) -> None:
    fname = node.func.id if isinstance(node.func, ast.Name) else None
    if fname not in _FUNCTIONS or node.keywords or len(node.args) != 1:
        what = f"calling {fname}()" if fname else "a call"
        raise QueryError(
            f"{what} is not allowed in a filter (functions: {', '.join(_FUNCTIONS)}, one argument): "
            f"{_snippet(p.text, node, p.names)}"
        )
    _check(p, node.args[0])


_FORBIDDEN = {ast.Subscript: "indexing", ast.Lambda: "a lambda", ast.IfExp: "if/else", ast.NamedExpr: "assignment",
              ast.Starred: "unpacking", ast.ListComp: "a comprehension", ast.SetComp: "a comprehension",
              ast.DictComp: "a comprehension", ast.GeneratorExp: "a comprehension"}


def _forbidden(node: ast.AST) -> str:
    """What a node that the filter language does not have is called, for the error."""
    return next((v for k, v in _FORBIDDEN.items() if isinstance(node, k)), type(node).__name__)


def names(expr: str) -> list[str]:
    """Column names an expression refers to (QueryError when it is not a valid filter)."""
    return list(parse(expr).columns)


def check_names(expr: str, columns) -> None:
    """QueryError for a filter that is not allowed or names an unknown column."""
    known = list(columns)
    for n in names(expr):
        if n not in known:
            close = difflib.get_close_matches(n, known, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise QueryError(f"unknown column {n}{hint}")


# ---- evaluation --------------------------------------------------------------------------


def _column(df: pd.DataFrame, name: str) -> np.ndarray:
    """A column as numpy: numbers as float64 (missing = NaN), booleans as bool, text as object."""
    s = df[name]
    dt = s.dtype
    if pd.api.types.is_bool_dtype(dt):
        return s.fillna(False).to_numpy(dtype=bool) if s.hasnans else s.to_numpy(dtype=bool)
    if pd.api.types.is_numeric_dtype(dt):
        return s.to_numpy(dtype=np.float64, na_value=np.nan)
    return s.astype(object).where(s.notna(), None).to_numpy(dtype=object)


def _is_text(v: Any) -> bool:
    return isinstance(v, str) or (isinstance(v, np.ndarray) and v.dtype == object)


def _is_bool(v: Any) -> bool:
    return isinstance(v, (bool, np.bool_)) or (isinstance(v, np.ndarray) and v.dtype == bool)


def _compare(op: type, a: Any, b: Any) -> np.ndarray:
    if _is_text(a) or _is_text(b):
        if op in (ast.Eq, ast.NotEq):
            res = np.equal(_objects(a), _objects(b), dtype=object)
            res = np.asarray(res, dtype=bool)
            return ~res if op is ast.NotEq else res
        fn = _CMPOPS[op]

        def one(x, y):
            if not isinstance(x, str) or not isinstance(y, str):
                if x is None or y is None:
                    return False
                raise QueryError("cannot order text against numbers")
            return bool(fn(x, y))

        if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
            return np.fromiter((one(x, y) for x, y in zip(a, b)), bool, len(a))
        if isinstance(a, np.ndarray):
            return np.fromiter((one(x, b) for x in a), bool, len(a))
        if isinstance(b, np.ndarray):
            return np.fromiter((one(a, y) for y in b), bool, len(b))
        return np.asarray(one(a, b))
    return _CMPOPS[op](_num(a), _num(b))


def _objects(v: Any) -> Any:
    if isinstance(v, np.ndarray):
        return v if v.dtype == object else v.astype(object)
    return np.array(v if isinstance(v, (str, bool)) else float(v), dtype=object)


def _num(v: Any) -> Any:
    if _is_text(v):
        raise QueryError("arithmetic or ordering on text")
    if isinstance(v, np.ndarray):
        return v.astype(np.float64) if v.dtype == bool else v
    return np.float64(v)


class _Evaluator:
    def __init__(self, p: _Parsed, df: pd.DataFrame):
        self.p, self.df = p, df
        self.cache: dict[str, np.ndarray] = {}

    def column(self, node: ast.Name | ast.Attribute) -> Any:
        name = self.p.column_of(node)
        if name in _LITERAL_NAMES and name not in self.df.columns:
            v = _LITERAL_NAMES[name]
            return v if isinstance(v, bool) else np.float64(v)
        if name not in self.cache:
            if name not in self.df.columns:
                close = difflib.get_close_matches(name, list(self.df.columns), n=1)
                raise QueryError(f"unknown column {name}" + (f"; did you mean {close[0]}?" if close else ""))
            self.cache[name] = _column(self.df, name)
        return self.cache[name]

    def compare(self, node: ast.Compare) -> Any:
        left = self.value(node.left)
        out = None
        for op, right_node in zip(node.ops, node.comparators):
            if isinstance(op, (ast.In, ast.NotIn)):
                items = [e.value for e in right_node.elts]
                res = self._isin(left, items)
                res = ~res if isinstance(op, ast.NotIn) else res
                right = None
            else:
                right = self.value(right_node)
                res = _compare(type(op), left, right)
            out = res if out is None else np.logical_and(out, res)
            left = right
        return out

    def value(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            v = node.value
            if isinstance(v, bool) or isinstance(v, str):
                return v
            try:
                return np.float64(v)
            except OverflowError:
                raise QueryError(f"the number {_snippet(self.p.text, node, self.p.names)} is too large") from None
        if isinstance(node, (ast.Name, ast.Attribute)):
            return self.column(node)
        if isinstance(node, ast.BoolOp):
            vals = [self.cond(v) for v in node.values]
            fn = np.logical_and if isinstance(node.op, ast.And) else np.logical_or
            out = vals[0]
            for v in vals[1:]:
                out = fn(out, v)
            return out
        if isinstance(node, ast.UnaryOp):
            if isinstance(node.op, (ast.Not, ast.Invert)):
                return np.logical_not(self.cond(node.operand))
            v = _num(self.value(node.operand))
            return -v if isinstance(node.op, ast.USub) else +v
        if isinstance(node, ast.BinOp):
            if type(node.op) in _BITOPS:
                return _BITOPS[type(node.op)](self.cond(node.left), self.cond(node.right))
            return _BINOPS[type(node.op)](_num(self.value(node.left)), _num(self.value(node.right)))
        if isinstance(node, ast.Compare):
            return self.compare(node)
        if isinstance(node, ast.Call):
            return _FUNCTIONS[node.func.id](_num(self.value(node.args[0])))
        raise QueryError(f"not allowed: {_snippet(self.p.text, node, self.p.names)}")  # pragma: no cover (checked)

    def _isin(self, left: Any, items: list) -> np.ndarray:
        if isinstance(left, np.ndarray):
            if left.dtype == object:
                return pd.Series(left).isin(items).to_numpy(dtype=bool)
            nums = [float(x) for x in items if not isinstance(x, str)]
            return np.isin(left.astype(np.float64), nums)
        return np.asarray(left in items)

    def cond(self, node: ast.AST) -> np.ndarray:
        v = self.value(node)
        if not _is_bool(v):
            raise QueryError(
                f"{_snippet(self.p.text, node, self.p.names)} is not a condition (it should be true or false for each row)"
            )
        return v


def mask(df: pd.DataFrame, expr: str) -> np.ndarray:
    """Boolean mask of the rows where ``expr`` holds; QueryError with a readable reason otherwise."""
    p = parse(expr)
    check_names(expr, df.columns)
    with np.errstate(all="ignore"):
        try:
            m = _Evaluator(p, df).cond(p.tree.body)
        except QueryError:
            raise
        except (TypeError, ValueError, ZeroDivisionError, OverflowError) as e:
            raise QueryError(str(e).splitlines()[0] if str(e) else type(e).__name__) from None
    m = np.asarray(m, dtype=bool)
    if m.ndim == 0:
        m = np.full(len(df), bool(m))
    return m


def apply(df: pd.DataFrame, exprs: list[str]) -> pd.DataFrame:
    """Rows of ``df`` where every expression holds."""
    if not exprs or len(df) == 0:
        return df
    keep = np.ones(len(df), dtype=bool)
    for e in exprs:
        keep &= mask(df, e)
    return df[keep]
