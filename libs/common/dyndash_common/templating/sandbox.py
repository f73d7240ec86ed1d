"""The sandboxed environment every DB template is compiled in.

Beyond Jinja2's ImmutableSandboxedEnvironment (no dunder access, no mutation of lists and
dicts, bounded `range`), it:

- refuses single operations that would allocate without bound inside one C call, where no
  timer can interrupt them: `'x' * 10**9`, `2 ** 10**8`, `'%999999999s' % 1`,
  `'{:>999999999}'.format(1)`, `s.center(10**9)`, `s.replace('', s)`, `big|join`, and `~` over
  huge parts;
- charges every string such an operation builds to the current render's meter (see
  `dyndash_common.templating.meter`), so many moderate allocations add up to a budget too;
- bounds integer results by bit length (`**`, `*`), and the nesting depth of what a template
  stores in a `namespace()`, so the hashing or printing of such values cannot run for long;
- raises on unsafe attribute access instead of printing an empty string, so an admin sees why,
  and on printing a function, a class or an object with no text of its own (their Python
  reprs carry memory addresses); every other way to text refuses them the same: `|string` and
  the other filters that print their input, `%` and `|format`, `str.format` and `format_map`,
  `~`, `join`, and the built-in widgets (`dyndash_common.widgets.render`).

These are cheap first checks. The wall that holds whatever slips past them is the render
process itself: its memory, CPU and wall-clock limits (`dyndash_common.templating.pool`).

"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from jinja2 import BaseLoader, TemplateNotFound, Undefined, pass_eval_context
from jinja2.compiler import CodeGenerator, Frame
from jinja2.exceptions import SecurityError
from jinja2.filters import do_center, do_format, do_indent, do_join, do_replace
from jinja2.nodes import Concat, Const, EvalContextModifier, Expr, Impossible, TemplateData
from jinja2.runtime import Context
from jinja2.sandbox import (
    ImmutableSandboxedEnvironment,
    SandboxedEscapeFormatter,
    SandboxedFormatter,
)
from jinja2.utils import Namespace, _PassArg
from markupsafe import Markup, soft_str

from dyndash_common.errors import BudgetExceeded
from dyndash_common.templating.meter import charge

MAX_SEQUENCE_LENGTH = 1_000_000
MAX_EXPONENT = 1_000
MAX_FORMAT_WIDTH = 10_000
MAX_INT_BITS = 100_000
MAX_NESTING = 100
# How many values the nesting check looks at before trusting the process limits instead: it
# runs on every namespace store, printed or not, so it must stay cheap on big harmless data.
MAX_CHECKED_VALUES = 10_000
_CONTAINERS = (list, tuple, dict, set, frozenset)
_PLAIN = (str, int, float, bool, type(None), Undefined)
_FORMAT_NUMBERS = re.compile(r"\d+")
# Widths taken from the arguments ('%*d', '{:{}}') cannot be checked before the C call.
_ARGUMENT_WIDTH = re.compile(r"%[^a-zA-Z%]*\*|\{[^{}]*:[^{}]*\{")
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})
# How CPython's default repr names an object: `<generator object f at 0x7f…>`.
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
# Filters that hand on their input's items or compute a number, never its text: what they give
# is printed (and checked) later, and they must take iterators (`|map(…)|join`). Every other
# filter may print its input, so its input and arguments are checked first.
_STRUCTURAL_FILTERS = frozenset(
    {
        "abs", "attr", "batch", "count", "d", "default", "dictsort", "first", "float",
        "groupby", "int", "items", "join", "last", "length", "list", "map", "max", "min",
        "random", "reject", "rejectattr", "reverse", "round", "select", "selectattr", "slice",
        "sort", "sum", "tojson", "unique",
    }
)  # fmt: skip

__all__ = ["BudgetExceeded", "DashboardSandbox", "SourcesLoader"]


class SourcesLoader(BaseLoader):
    """Template sources by name from a mapping filled from the database."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        source = self.sources[template]
        return source, None, lambda: self.sources.get(template) is source


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _bounded(size: int, what: str) -> int:
    if size > MAX_SEQUENCE_LENGTH:
        raise BudgetExceeded(f"{what} may not exceed {MAX_SEQUENCE_LENGTH} items")
    charge(size)
    return size


def _check_format_string(text: str) -> None:
    if _ARGUMENT_WIDTH.search(text):
        raise BudgetExceeded("format widths taken from arguments are not allowed")
    if any(int(number) > MAX_FORMAT_WIDTH for number in _FORMAT_NUMBERS.findall(text)):
        raise BudgetExceeded(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")


def _children(value: Any) -> Iterable[Any]:
    if isinstance(value, dict):
        return [*value.keys(), *value.values()]
    return value  # type: ignore[no-any-return]


def _too_deep(value: Any, limit: int) -> bool:
    """Whether containers nest deeper than `limit` in `value` (shared parts walked once)."""
    pending = [(value, 1)]
    depth_seen: dict[int, int] = {}
    checked = 0
    while pending:
        current, depth = pending.pop()
        if not isinstance(current, _CONTAINERS):
            continue
        if depth > limit:
            return True
        if depth_seen.get(id(current), 0) >= depth:
            continue
        depth_seen[id(current)] = depth
        for child in _children(current):
            checked += 1
            if checked > MAX_CHECKED_VALUES:
                return False
            pending.append((child, depth + 1))
    return False


class BoundedNamespace(Namespace):
    """`namespace()` whose attributes may not hold deeply nested containers: a loop that wraps
    a value in itself builds a structure whose hash or repr overflows the C stack."""

    def __setitem__(self, name: str, value: Any) -> None:
        if _too_deep(value, MAX_NESTING):
            raise BudgetExceeded(f"values may not nest more than {MAX_NESTING} containers deep")
        Namespace.__setitem__(self, name, value)


def _unprintable(value: Any) -> str | None:
    """What in `value` has no text of its own to print (None when all of it has).

    Every value is looked at (each container once): printing them costs more than this."""
    pending = [value]
    walked: set[int] = set()
    while pending:
        current = pending.pop()
        if isinstance(current, _PLAIN):
            continue
        if isinstance(current, (*_CONTAINERS, Namespace)):
            if id(current) not in walked:
                walked.add(id(current))
                children = current._Namespace__attrs if isinstance(current, Namespace) else current
                pending.extend(_children(children))
            continue
        if isinstance(current, type):
            return "a class"
        if callable(current):
            return "a function"
        kind: Any = type(current)
        if kind.__repr__ is object.__repr__ and kind.__str__ is object.__str__:
            return f"a {kind.__name__} object"
        # A repr of its own may still be the default one's (a generator, an iterator).
        if _ADDRESS.search(repr(current)) or _ADDRESS.search(str(current)):
            return f"a {kind.__name__} object"
    return None


def refuse_unprintable(value: Any, where: str = "") -> None:
    """SecurityError when `value` would print a Python repr; `where` says how it was printed."""
    what = _unprintable(value)
    if what is not None:
        how = f" ({where})" if where else ""
        raise SecurityError(f"printing {what}{how} is not allowed; print its data instead")


def finalize_output(value: Any) -> Any:
    """Every `{{ … }}` passes here before it is printed."""
    refuse_unprintable(value)
    return value


def _checked_filter(name: str, function: Callable[..., Any]) -> Callable[..., Any]:
    """`function`, refusing first an input or argument that would print a Python repr."""
    skipped = 1 if _PassArg.from_obj(function) is not None else 0
    where = f"through |{name}"

    @functools.wraps(function)
    def checked(*args: Any, **kwargs: Any) -> Any:
        refuse_unprintable((args[skipped:], list(kwargs.values())), where)
        return function(*args, **kwargs)

    return checked


class _TextFormatter(SandboxedFormatter):
    """str.format's fields, each refused if it would print a Python repr (`{!r}` included)."""

    def convert_field(self, value: Any, conversion: str | None) -> Any:
        refuse_unprintable(value, "in str.format")
        return super().convert_field(value, conversion)


class _EscapeTextFormatter(_TextFormatter, SandboxedEscapeFormatter):
    pass


class _BoundedCodeGenerator(CodeGenerator):
    """Compiles `a ~ b ~ …` to a call that checks the joined size before joining, and never
    evaluates template expressions while compiling (Jinja2 folds constant output and
    `{% autoescape expr %}` by running them, outside every render budget)."""

    def _output_child_to_const(self, node: Expr, frame: Frame, finalize: Any) -> str:
        if not isinstance(node, TemplateData | Const):
            raise Impossible
        return str(super()._output_child_to_const(node, frame, finalize))

    def visit_EvalContextModifier(self, node: EvalContextModifier, frame: Frame) -> None:
        for keyword in node.options:
            self.writeline(f"context.eval_ctx.{keyword.key} = ")
            self.visit(keyword.value, frame)
            if isinstance(keyword.value, Const):
                setattr(frame.eval_ctx, keyword.key, keyword.value.value)
            else:
                frame.eval_ctx.volatile = True

    def visit_Concat(self, node: Concat, frame: Frame) -> None:
        if frame.eval_ctx.volatile:
            join = "(markup_join if context.eval_ctx.volatile else str_join)"
        elif frame.eval_ctx.autoescape:
            join = "markup_join"
        else:
            join = "str_join"
        self.write(f"environment.bounded_concat({join}, (")
        for argument in node.nodes:
            self.visit(argument, frame)
            self.write(", ")
        self.write("))")


class DashboardSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})
    code_generator_class = _BoundedCodeGenerator

    def __init__(self, loader: BaseLoader | None = None, cache_size: int = 0) -> None:
        # optimized=False: Jinja2's optimizer folds constant expressions by running them at
        # compile time, which would execute template code outside every render budget.
        super().__init__(
            loader=loader,
            autoescape=True,
            auto_reload=True,
            cache_size=cache_size,
            optimized=False,
            finalize=finalize_output,
        )
        self.globals["namespace"] = BoundedNamespace
        self.filters.update(
            format=self._format_filter,
            join=self._join_filter,
            replace=self._replace_filter,
            center=self._center_filter,
            indent=self._indent_filter,
        )
        for name, function in list(self.filters.items()):
            if name not in _STRUCTURAL_FILTERS:
                self.filters[name] = _checked_filter(name, function)

    def bounded_concat(self, join: Callable[[Iterable[Any]], str], parts: tuple[Any, ...]) -> str:
        refuse_unprintable(parts, "in a ~ concatenation")
        texts = [soft_str(part) for part in parts]
        _bounded(sum(len(text) for text in texts), "a ~ concatenation")
        return join(texts)

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                size = _sized(sequence)
                if size is not None and isinstance(times, int):
                    _bounded(size * max(times, 0), "a repeated sequence")
            if _integers(left, right) and left.bit_length() + right.bit_length() > MAX_INT_BITS:
                raise BudgetExceeded(f"integers may not exceed {MAX_INT_BITS} bits")
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise BudgetExceeded(f"exponents above {MAX_EXPONENT} are not allowed")
            if _integers(left, right) and right > 0 and left.bit_length() * right > MAX_INT_BITS:
                raise BudgetExceeded(f"integers may not exceed {MAX_INT_BITS} bits")
        elif operator == "%":
            if isinstance(left, str):
                _check_format_string(left)
                refuse_unprintable(right, "in % formatting")
        elif operator == "+":
            left_size, right_size = _sized(left), _sized(right)
            if left_size is not None and right_size is not None:
                _bounded(left_size + right_size, "a concatenation")
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def call(
        __self,
        __context: Context,
        __obj: Any,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        owner = getattr(__obj, "__self__", None)
        if isinstance(owner, str):
            name = getattr(__obj, "__name__", "")
            if name in _WIDTH_METHODS and args and isinstance(args[0], int):
                _bounded(max(args[0], len(owner)), f"str.{name}()")
            elif name == "expandtabs":
                tab = args[0] if args and isinstance(args[0], int) else 8
                _bounded(len(owner) * max(tab, 1), "str.expandtabs()")
            elif name == "replace" and len(args) >= 2:
                _bounded(_replaced_size(owner, args[0], args[1], *args[2:3]), "str.replace()")
            elif name == "join" and args:
                given = list(args[0])
                refuse_unprintable(given, "in str.join()")
                items = [soft_str(item) for item in given]
                _bounded(sum(map(len, items)) + len(owner) * len(items), "str.join()")
                args = (items, *args[1:])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """Jinja2's own, with a formatter that refuses fields printing a Python repr."""
        if super().wrap_str_format(value) is None:
            return None
        text: str = value.__self__
        _check_format_string(str(text))
        formatter: _TextFormatter = (
            _EscapeTextFormatter(self, escape=text.escape)
            if isinstance(text, Markup)
            else _TextFormatter(self)
        )
        is_format_map = value.__name__ == "format_map"

        def wrapper(*args: Any, **kwargs: Any) -> str:
            if is_format_map:
                if kwargs or len(args) != 1:
                    raise TypeError("format_map() takes exactly one argument")
                return type(text)(formatter.vformat(text, (), args[0]))
            return type(text)(formatter.vformat(text, args, kwargs))

        return functools.update_wrapper(wrapper, value)

    @staticmethod
    def _format_filter(value: str, *args: Any, **kwargs: Any) -> str:
        _check_format_string(str(value))
        return do_format(value, *args, **kwargs)

    @pass_eval_context
    def _join_filter(
        self, eval_ctx: Any, value: Iterable[Any], d: str = "", attribute: Any = None
    ) -> str:
        items = list(value)
        # Items taken by `attribute` are checked by finalize_output's rule as they are joined.
        refuse_unprintable((items, d), "through |join")
        estimate = sum(len(soft_str(item)) for item in items) + len(d) * len(items)
        _bounded(estimate, "a joined string")
        return str(do_join(eval_ctx, items, d, attribute))

    @pass_eval_context
    def _replace_filter(
        self, eval_ctx: Any, s: str, old: str, new: str, count: int | None = None
    ) -> str:
        text = soft_str(s)
        _bounded(_replaced_size(text, old, new, count), "a replaced string")
        return do_replace(eval_ctx, s, old, new, count)

    @staticmethod
    def _center_filter(value: str, width: int = 80) -> str:
        _bounded(max(width, len(value)), "a centred string")
        return do_center(value, width)

    @staticmethod
    def _indent_filter(
        s: str, width: int | str = 4, first: bool = False, blank: bool = False
    ) -> str:
        pad = width if isinstance(width, int) else len(width)
        _bounded(len(s) + (s.count("\n") + 1) * max(pad, 0), "an indented string")
        return do_indent(s, width, first, blank)


def _integers(left: Any, right: Any) -> bool:
    return isinstance(left, int) and isinstance(right, int)


def _replaced_size(text: str, old: Any, new: Any, count: Any = None) -> int:
    old_text, new_text = soft_str(old), soft_str(new)
    hits = len(text) + 1 if old_text == "" else text.count(old_text)
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(len(new_text) - len(old_text), 0)
