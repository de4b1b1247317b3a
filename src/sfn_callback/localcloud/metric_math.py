"""CloudWatch metric math, evaluated as the CloudWatch user guide ("Using metric math") describes it.

Pure: no moto, no clocks. A time series is a mapping from period start (epoch seconds) to value over a grid
of period starts (the query's periods); an expression evaluates to a scalar, a time series or an array of
time series, and the final result of a query must be a time series or an array of them.

Supported, with AWS's semantics:

* numbers, query ids (``m1``, ``errors``), ``[a, b]`` arrays, unary ``-``, ``+ - * / ^``; between two time
  series a timestamp present in only one of them counts as 0 in the other; a data point whose value would
  divide by zero (or is otherwise not finite) is dropped;
* comparisons ``== != < <= > >=`` (1 or 0; missing values count as 0) and ``AND``/``&&``, ``OR``/``||``;
* ``IF(condition, true[, false])`` with the per-point rules of the guide's tables;
* ``FILL(ts, value | ts | REPEAT | LINEAR)`` over the query's grid;
* ``ABS CEIL FLOOR LOG LOG10`` per point; ``SUM AVG MIN MAX STDDEV DATAPOINT_COUNT`` (of a time series: a
  scalar; of an array: a time series per timestamp, ``SUM``/``AVG`` counting missing values as 0);
* ``METRICS([substring])``, ``PERIOD(m)``, ``TIME_SERIES(s)``, ``DIFF``, ``DIFF_TIME``, ``RATE``,
  ``RUNNING_SUM``, ``FIRST``, ``LAST``, ``METRIC_COUNT``, ``REMOVE_EMPTY``.

Anything else (``SEARCH``, ``ANOMALY_DETECTION_BAND``, ``INSIGHT_RULE_METRIC``, ``SORT``, ...) is a
:class:`MathError` naming the function, never a silent wrong answer.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any


class MathError(ValueError):
    """The expression cannot be evaluated; the message says why."""


@dataclass
class TimeSeries:
    points: dict[float, float] = field(default_factory=dict)
    label: str = ""
    id: str = ""
    period: int | None = None

    def sorted_items(self) -> list[tuple[float, float]]:
        return sorted(self.points.items())


@dataclass(frozen=True)
class _Keyword:
    name: str


Value = Any  # float | TimeSeries | list[TimeSeries] | str | _Keyword

_TOKEN = re.compile(r"""
    \s*(?:
      (?P<num>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
    | (?P<str>"[^"]*"|“[^”]*”|'[^']*')
    | (?P<name>[A-Za-z_][A-Za-z0-9_]*)
    | (?P<op>==|!=|<=|>=|&&|\|\||[-+*/^<>(),\[\]])
    )""", re.VERBOSE)

_BINARY = {"OR": 1, "||": 1, "AND": 2, "&&": 2, "==": 3, "!=": 3, "<": 3, "<=": 3, ">": 3, ">=": 3,
           "+": 4, "-": 4, "*": 5, "/": 5, "^": 6}
_KEYWORDS = {"REPEAT", "LINEAR", "ASC", "DESC"}


def tokenize(expression: str) -> list[tuple[str, str]]:
    tokens, pos = [], 0
    text = expression.rstrip()
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match or match.end() == pos:
            raise MathError(f"Syntax error in expression {expression!r} at position {pos}.")
        kind = match.lastgroup or ""
        tokens.append((kind, match.group(kind)))
        pos = match.end()
    return tokens


class _Parser:
    """Pratt parser producing nested tuples: ``("num", v)``, ``("id", name)``, ``("call", NAME, args)``..."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        self.tokens = tokenize(expression)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, value: str | None = None) -> tuple[str, str]:
        token = self.peek()
        if token is None or (value is not None and token[1] != value):
            wanted = f"'{value}'" if value else "more input"
            raise MathError(f"Syntax error in expression {self.expression!r}: expected {wanted}.")
        self.pos += 1
        return token

    def parse(self) -> Any:
        if not self.tokens:
            raise MathError("The expression is empty.")
        node = self.expr(0)
        rest = self.peek()
        if rest is not None:
            raise MathError(f"Syntax error in expression {self.expression!r} near {rest[1]!r}.")
        return node

    def next_is(self, text: str) -> bool:
        token = self.peek()
        return token is not None and token[1] == text

    def expr(self, min_bp: int) -> Any:
        left = self.prefix()
        while True:
            token = self.peek()
            if token is None:
                break
            op = token[1].upper() if token[0] == "name" else token[1]
            bp = _BINARY.get(op) if token[0] in ("op", "name") else None
            if bp is None or bp <= min_bp:
                break
            self.pos += 1
            right = self.expr(bp - 1 if op == "^" else bp)  # ^ is right-associative
            left = ("bin", op, left, right)
        return left

    def prefix(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return ("num", float(text))
        if kind == "str":
            return ("str", text[1:-1])
        if text == "(":
            node = self.expr(0)
            self.take(")")
            return node
        if text == "[":
            items = [self.expr(0)]
            while self.next_is(","):
                self.take(",")
                items.append(self.expr(0))
            self.take("]")
            return ("array", items)
        if text == "-":
            return ("neg", self.expr(5))  # binds tighter than * and /, looser than ^
        if kind == "name":
            if self.next_is("("):
                self.take("(")
                args = []
                if self.peek() is not None and not self.next_is(")"):
                    args.append(self.expr(0))
                    while self.next_is(","):
                        self.take(",")
                        args.append(self.expr(0))
                self.take(")")
                return ("call", text, args)
            if text in _KEYWORDS:
                return ("kw", text)
            return ("id", text)
        raise MathError(f"Syntax error in expression {self.expression!r} near {text!r}.")


def parse(expression: str) -> Any:
    return _Parser(expression).parse()


def referenced_ids(expression: str) -> set[str]:
    """The query ids an expression names (for dependency checks)."""
    found: set[str] = set()

    def walk(node: Any) -> None:
        if node[0] == "id":
            found.add(node[1])
        elif node[0] == "bin":
            walk(node[2])
            walk(node[3])
        elif node[0] == "neg":
            walk(node[1])
        elif node[0] in ("array",):
            for item in node[1]:
                walk(item)
        elif node[0] == "call":
            for item in node[2]:
                walk(item)

    walk(parse(expression))
    return found


@dataclass
class Context:
    """What an expression can see: the grid of period starts and the other queries' results."""

    grid: list[float]
    resolve: Callable[[str], Value]  # id -> TimeSeries (or array, for expression ids)
    metric_ids: list[str] = field(default_factory=list)  # MetricStat query ids, in request order


def evaluate(expression: str, context: Context) -> Value:
    return _eval(parse(expression), context)


def evaluate_series(expression: str, context: Context) -> list[TimeSeries]:
    """The expression's final result, which must be a time series or an array of them."""
    value = evaluate(expression, context)
    if isinstance(value, TimeSeries):
        return [value]
    if isinstance(value, list) and all(isinstance(v, TimeSeries) for v in value):
        return value
    raise MathError(f"The expression {expression!r} must return a time series or an array of time series, "
                    "not a scalar.")


# -- evaluation --------------------------------------------------------------------------------------
def _finite(value: float) -> bool:
    return isinstance(value, (int, float)) and math.isfinite(value)


def _series(points: dict[float, float], like: TimeSeries | None = None) -> TimeSeries:
    return TimeSeries({t: v for t, v in points.items() if _finite(v)}, period=like.period if like else None,
                      label=like.label if like else "", id=like.id if like else "")


def _apply(op: str, a: float, b: float) -> float:
    try:
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b if b != 0 else math.nan
        if op == "^":
            result = a ** b
            return result if isinstance(result, float) or isinstance(result, int) else math.nan
        if op == "==":
            return 1.0 if a == b else 0.0
        if op == "!=":
            return 1.0 if a != b else 0.0
        if op == "<":
            return 1.0 if a < b else 0.0
        if op == "<=":
            return 1.0 if a <= b else 0.0
        if op == ">":
            return 1.0 if a > b else 0.0
        if op == ">=":
            return 1.0 if a >= b else 0.0
        if op in ("AND", "&&"):
            return 1.0 if a != 0 and b != 0 else 0.0
        if op in ("OR", "||"):
            return 1.0 if a != 0 or b != 0 else 0.0
    except (OverflowError, ZeroDivisionError, ValueError):
        return math.nan
    raise MathError(f"Unknown operator {op}.")


def _binary(op: str, a: Value, b: Value) -> Value:
    if isinstance(a, list):
        return [_binary(op, item, b) for item in a]
    if isinstance(b, list):
        return [_binary(op, a, item) for item in b]
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return _apply(op, float(a), float(b))
    if isinstance(a, TimeSeries) and isinstance(b, (int, float)):
        return _series({t: _apply(op, v, float(b)) for t, v in a.points.items()}, a)
    if isinstance(a, (int, float)) and isinstance(b, TimeSeries):
        return _series({t: _apply(op, float(a), v) for t, v in b.points.items()}, b)
    if isinstance(a, TimeSeries) and isinstance(b, TimeSeries):
        times = set(a.points) | set(b.points)
        return _series({t: _apply(op, a.points.get(t, 0.0), b.points.get(t, 0.0)) for t in times}, a)
    raise MathError(f"The operator {op} cannot combine {_kind(a)} and {_kind(b)}.")


def _kind(value: Value) -> str:
    if isinstance(value, TimeSeries):
        return "a time series"
    if isinstance(value, list):
        return "an array of time series"
    if isinstance(value, (int, float)):
        return "a scalar"
    return "a string or keyword"


def _eval(node: Any, ctx: Context) -> Value:
    tag = node[0]
    if tag == "num":
        return node[1]
    if tag == "str":
        return node[1]
    if tag == "kw":
        return _Keyword(node[1])
    if tag == "id":
        return ctx.resolve(node[1])
    if tag == "neg":
        return _binary("*", -1.0, _eval(node[1], ctx))
    if tag == "bin":
        return _binary(node[1], _eval(node[2], ctx), _eval(node[3], ctx))
    if tag == "array":
        items: list[TimeSeries] = []
        for item in node[1]:
            value = _eval(item, ctx)
            if isinstance(value, TimeSeries):
                items.append(value)
            elif isinstance(value, list):
                items.extend(value)
            else:
                raise MathError("An array can only hold time series.")
        return items
    if tag == "call":
        name, args = node[1].upper(), node[2]
        function = _FUNCTIONS.get(name)
        if function is None:
            raise MathError(f"The function {name} is not supported by the local cloud's metric math.")
        return function(ctx, [_eval(arg, ctx) for arg in args])
    raise MathError(f"Cannot evaluate {node!r}.")


def _need(name: str, args: list[Value], low: int, high: int | None = None) -> None:
    high = low if high is None else high
    if not low <= len(args) <= high:
        raise MathError(f"{name} takes {low if low == high else f'{low} to {high}'} argument(s), got {len(args)}.")


def _per_point(name: str, fn: Callable[[float], float]) -> Callable[[Context, list[Value]], Value]:
    def apply(ctx: Context, args: list[Value]) -> Value:
        _need(name, args, 1)

        def one(value: Value) -> Value:
            if isinstance(value, list):
                return [one(v) for v in value]
            if isinstance(value, TimeSeries):
                return _series({t: _safe(fn, v) for t, v in value.points.items()}, value)
            if isinstance(value, (int, float)):
                return _safe(fn, float(value))
            raise MathError(f"{name} needs a time series.")

        return one(args[0])

    return apply


def _safe(fn: Callable[[float], float], value: float) -> float:
    try:
        return float(fn(value))
    except (ValueError, OverflowError, ZeroDivisionError):
        return math.nan


def _stddev(values: list[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))


def _reducer(name: str) -> Callable[[Context, list[Value]], Value]:
    def reduce_values(values: list[float], count: int) -> float:
        if name == "SUM":
            return math.fsum(values)
        if name == "AVG":
            return math.fsum(values) / count if count else math.nan
        if name == "MIN":
            return min(values) if values else math.nan
        if name == "MAX":
            return max(values) if values else math.nan
        if name == "STDDEV":
            return _stddev(values) if values else math.nan
        return float(len(values))  # DATAPOINT_COUNT

    def apply(ctx: Context, args: list[Value]) -> Value:
        _need(name, args, 1)
        value = args[0]
        if isinstance(value, TimeSeries):
            present = list(value.points.values())
            return reduce_values(present, len(present))
        if isinstance(value, list):
            times = set().union(*(s.points for s in value)) if value else set()
            result = {}
            for t in times:
                present = [s.points[t] for s in value if t in s.points]
                if name in ("SUM", "AVG"):  # missing values count as 0
                    result[t] = reduce_values(present, len(value))
                else:
                    result[t] = reduce_values(present, len(present))
            return _series(result, value[0] if value else None)
        raise MathError(f"{name} needs a time series or an array of time series.")

    return apply


def _fill(ctx: Context, args: list[Value]) -> Value:
    _need("FILL", args, 2)
    target, filler = args

    def one(ts: TimeSeries) -> TimeSeries:
        points = dict(ts.points)
        if isinstance(filler, _Keyword) and filler.name == "REPEAT":
            last = None
            first_known = next((points[t] for t in ctx.grid if t in points), None)
            for t in ctx.grid:
                if t in points:
                    last = points[t]
                else:
                    fill = last if last is not None else first_known
                    if fill is not None:
                        points[t] = fill
        elif isinstance(filler, _Keyword) and filler.name == "LINEAR":
            known = [t for t in ctx.grid if t in ts.points]
            for left, right in zip(known, known[1:]):
                for t in ctx.grid:
                    if left < t < right:
                        share = (t - left) / (right - left)
                        points[t] = ts.points[left] + share * (ts.points[right] - ts.points[left])
        elif isinstance(filler, TimeSeries):
            for t in ctx.grid:
                if t not in points and t in filler.points:
                    points[t] = filler.points[t]
        elif isinstance(filler, (int, float)):
            for t in ctx.grid:
                points.setdefault(t, float(filler))
        else:
            raise MathError("FILL takes a number, a time series, REPEAT or LINEAR as its second argument.")
        return _series(points, ts)

    if isinstance(target, TimeSeries):
        return one(target)
    if isinstance(target, list):
        return [one(ts) for ts in target]
    raise MathError("FILL needs a time series or an array of time series.")


def _if(ctx: Context, args: list[Value]) -> Value:
    _need("IF", args, 2, 3)
    condition, when_true = args[0], args[1]
    when_false = args[2] if len(args) == 3 else None
    if isinstance(condition, (int, float)):
        chosen = when_true if condition != 0 else when_false
        if chosen is None:
            return TimeSeries()
        if isinstance(chosen, (int, float)):
            return _series({t: float(chosen) for t in ctx.grid})
        return chosen
    if not isinstance(condition, TimeSeries):
        raise MathError("IF needs a time series or a scalar as its condition.")
    result: dict[float, float] = {}
    for t, flag in condition.points.items():
        branch = when_true if flag != 0 else when_false
        if branch is None:
            continue
        if isinstance(branch, (int, float)):
            result[t] = float(branch)
        elif isinstance(branch, TimeSeries):
            if t in branch.points:
                result[t] = branch.points[t]
            elif flag != 0:
                result[t] = 0.0  # a true condition without a value in the true branch gives 0
        else:
            raise MathError("IF's branches must be scalars or time series.")
    return _series(result, condition)


def _metrics(ctx: Context, args: list[Value]) -> Value:
    _need("METRICS", args, 0, 1)
    needle = str(args[0]) if args else ""
    return [ctx.resolve(i) for i in ctx.metric_ids if needle in i]


def _period(ctx: Context, args: list[Value]) -> Value:
    _need("PERIOD", args, 1)
    if not isinstance(args[0], TimeSeries) or args[0].period is None:
        raise MathError("PERIOD needs a metric.")
    return float(args[0].period)


def _time_series(ctx: Context, args: list[Value]) -> Value:
    _need("TIME_SERIES", args, 1)
    if not isinstance(args[0], (int, float)):
        raise MathError("TIME_SERIES needs a scalar.")
    return _series({t: float(args[0]) for t in ctx.grid})


def _sequential(name: str) -> Callable[[Context, list[Value]], Value]:
    def one(ts: TimeSeries) -> TimeSeries:
        items, result = ts.sorted_items(), {}
        if name == "RUNNING_SUM":
            total = 0.0
            for t, v in items:
                total += v
                result[t] = total
        else:
            for (t0, v0), (t1, v1) in zip(items, items[1:]):
                if name == "DIFF":
                    result[t1] = v1 - v0
                elif name == "DIFF_TIME":
                    result[t1] = t1 - t0
                else:  # RATE
                    result[t1] = (v1 - v0) / (t1 - t0) if t1 != t0 else math.nan
        return _series(result, ts)

    def apply(ctx: Context, args: list[Value]) -> Value:
        _need(name, args, 1)
        if isinstance(args[0], TimeSeries):
            return one(args[0])
        if isinstance(args[0], list):
            return [one(ts) for ts in args[0]]
        raise MathError(f"{name} needs a time series.")

    return apply


def _pick(name: str) -> Callable[[Context, list[Value]], Value]:
    def apply(ctx: Context, args: list[Value]) -> Value:
        _need(name, args, 1)
        if not isinstance(args[0], list) or not args[0]:
            raise MathError(f"{name} needs a non-empty array of time series.")
        return args[0][0] if name == "FIRST" else args[0][-1]

    return apply


def _metric_count(ctx: Context, args: list[Value]) -> Value:
    _need("METRIC_COUNT", args, 1)
    if not isinstance(args[0], list):
        raise MathError("METRIC_COUNT needs an array of time series.")
    return float(len(args[0]))


def _remove_empty(ctx: Context, args: list[Value]) -> Value:
    _need("REMOVE_EMPTY", args, 1)
    if not isinstance(args[0], list):
        raise MathError("REMOVE_EMPTY needs an array of time series.")
    return [ts for ts in args[0] if ts.points]


_FUNCTIONS: dict[str, Callable[[Context, list[Value]], Value]] = {
    "ABS": _per_point("ABS", abs),
    "CEIL": _per_point("CEIL", math.ceil),
    "FLOOR": _per_point("FLOOR", math.floor),
    "LOG": _per_point("LOG", math.log),
    "LOG10": _per_point("LOG10", math.log10),
    "SUM": _reducer("SUM"),
    "AVG": _reducer("AVG"),
    "MIN": _reducer("MIN"),
    "MAX": _reducer("MAX"),
    "STDDEV": _reducer("STDDEV"),
    "DATAPOINT_COUNT": _reducer("DATAPOINT_COUNT"),
    "FILL": _fill,
    "IF": _if,
    "METRICS": _metrics,
    "PERIOD": _period,
    "TIME_SERIES": _time_series,
    "DIFF": _sequential("DIFF"),
    "DIFF_TIME": _sequential("DIFF_TIME"),
    "RATE": _sequential("RATE"),
    "RUNNING_SUM": _sequential("RUNNING_SUM"),
    "FIRST": _pick("FIRST"),
    "LAST": _pick("LAST"),
    "METRIC_COUNT": _metric_count,
    "REMOVE_EMPTY": _remove_empty,
}
