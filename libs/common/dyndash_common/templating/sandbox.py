"""The sandboxed environment every DB template is compiled in.

Beyond Jinja2's ImmutableSandboxedEnvironment (no dunder access, no mutation of lists and
dicts, bounded `range`), it refuses the operations that can allocate without bound in a single
C call, where no timer can interrupt them: `'x' * 10**9`, `10 ** 10 ** 10`, `'%999999999s'`,
`'{:>999999999}'.format(...)`. The rest of the budget (time, total output, memory) is enforced
around the render by `dyndash_common.templating.budget`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from jinja2 import BaseLoader, TemplateNotFound
from jinja2.exceptions import SecurityError
from jinja2.filters import do_format
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment

MAX_SEQUENCE_LENGTH = 1_000_000
MAX_EXPONENT = 1_000
MAX_FORMAT_WIDTH = 10_000
_FORMAT_NUMBERS = re.compile(r"\d+")


class BudgetExceeded(SecurityError):
    """A template asked for more time, output or memory than its budget allows."""


class SourcesLoader(BaseLoader):
    """Template sources by name from a mapping filled from the database."""

    def __init__(self, sources: Mapping[str, str]) -> None:
        self.sources = sources

    def get_source(
        self, environment: Any, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        if template not in self.sources:
            raise TemplateNotFound(template)
        return self.sources[template], None, lambda: True


def _sized(value: Any) -> int | None:
    return len(value) if isinstance(value, str | bytes | list | tuple) else None


def _check_format_string(text: str) -> None:
    if any(int(number) > MAX_FORMAT_WIDTH for number in _FORMAT_NUMBERS.findall(text)):
        raise BudgetExceeded(f"format widths above {MAX_FORMAT_WIDTH} are not allowed")


class DashboardSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "%", "+"})

    def __init__(self, loader: BaseLoader | None = None) -> None:
        super().__init__(loader=loader, autoescape=True, auto_reload=False, cache_size=0)
        self.filters["format"] = self._checked_format

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        if operator == "*":
            for sequence, times in ((left, right), (right, left)):
                size = _sized(sequence)
                if (
                    size is not None
                    and isinstance(times, int)
                    and size * times > MAX_SEQUENCE_LENGTH
                ):
                    raise BudgetExceeded(
                        f"a repeated sequence may not exceed {MAX_SEQUENCE_LENGTH} items"
                    )
        elif operator == "**":
            if isinstance(right, int | float) and abs(right) > MAX_EXPONENT:
                raise BudgetExceeded(f"exponents above {MAX_EXPONENT} are not allowed")
        elif operator == "%":
            if isinstance(left, str):
                _check_format_string(left)
        elif operator == "+":
            left_size, right_size = _sized(left), _sized(right)
            if (
                left_size is not None
                and right_size is not None
                and left_size + right_size > MAX_SEQUENCE_LENGTH
            ):
                raise BudgetExceeded(f"a concatenation may not exceed {MAX_SEQUENCE_LENGTH} items")
        return super().call_binop(context, operator, left, right)

    def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
        # Jinja2 answers an unsafe attribute with an Undefined that prints as ""; an admin is
        # better served by an error naming what the sandbox refused.
        raise SecurityError(
            f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
        )

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapped = super().wrap_str_format(value)
        if wrapped is not None:
            _check_format_string(str(value.__self__))
        return wrapped

    @staticmethod
    def _checked_format(value: str, *args: Any, **kwargs: Any) -> str:
        _check_format_string(str(value))
        return do_format(value, *args, **kwargs)
