"""What validation found: ``CheckFailure`` records gathered in a ``ValidationReport``.

Plain frozen data, JSON-able through ``to_dict``, with the wording of failures in one place.
How the checks run is ``_schema_validate.py``'s business.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date
from typing import Any, Final

from conveyor.core._errors import DataValidationError

# Failures named in one error message; ``details["failures"]`` always carries all of them.
_MESSAGE_FAILURES: Final = 20


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """One check that the data failed.

    Attributes:
        column: The column checked.
        check: The kind of check: ``missing``, ``unexpected``, ``dtype``, ``not_null``,
            ``unique``, ``range``, ``isin``, ``notin``, ``pattern`` or ``length``.
        failing_rows: How many rows fail it; None for a check on the column as a whole
            (``missing``, ``unexpected``, ``dtype``, a check that does not apply to the dtype).
        examples: A few failing values (distinct values for ``unique``; none for ``not_null``).
        description: The check in words, e.g. ``range [0, 1000]`` or
            ``dtype: expected float64, got string``.
    """

    column: str
    check: str
    failing_rows: int | None
    examples: tuple[Any, ...] = ()
    description: str = ""

    def message(self) -> str:
        """E.g. ``column 'amount' range [0, 1000]: 3 rows fail, e.g. -5.0, 1200.5``."""
        head = f"column {self.column!r} {self.description or self.check}"
        if self.failing_rows is None:
            return head
        rows = "1 row fails" if self.failing_rows == 1 else f"{self.failing_rows} rows fail"
        text = f"{head}: {rows}"
        if self.examples:
            text += ", e.g. " + ", ".join(show(value) for value in self.examples)
        return text

    def to_dict(self) -> dict[str, Any]:
        return {
            "column": self.column,
            "check": self.check,
            "description": self.description or self.check,
            "failing_rows": self.failing_rows,
            "examples": [jsonable(value) for value in self.examples],
        }


@dataclass(frozen=True, slots=True)
class ValidationReport:
    """The outcome of ``Schema.validate``.

    Attributes:
        failures: Each failing check, in schema order (with ``lazy=False``, at most one).
        rows: How many rows were checked.
        checks: How many checks ran (a dtype, nullability, uniqueness, range, value, pattern
            or length constraint of one column counts as one).
        schema: The schema's name, if it has one.
    """

    failures: tuple[CheckFailure, ...]
    rows: int
    checks: int
    schema: str | None = None

    @property
    def ok(self) -> bool:
        """Whether every check passed."""
        return not self.failures

    def message(self, source: str | None = None) -> str:
        """E.g. ``orders: 2 checks failed: column 'amount' range [0, 1000]: 3 rows fail ...``."""
        label = source or self.schema or "data"
        if self.ok:
            return f"{label}: all {self.checks} checks passed on {self.rows} rows"
        n = len(self.failures)
        text = f"{label}: {'1 check' if n == 1 else f'{n} checks'} failed: "
        text += "; ".join(f.message() for f in self.failures[:_MESSAGE_FAILURES])
        if n > _MESSAGE_FAILURES:
            text += f"; and {n - _MESSAGE_FAILURES} more"
        return text

    def raise_for_failures(self, source: str | None = None) -> None:
        """Raise ``DataValidationError`` if any check failed; do nothing otherwise.

        Args:
            source: What was validated, for the message (``"orders"``, ``"step 'clean' input
                'raw'"``); defaults to the schema's name.

        Raises:
            DataValidationError: naming column, check, failing rows and examples of each
                failure; ``details["failures"]`` holds them as JSON-able dicts.
        """
        if self.ok:
            return
        raise DataValidationError(
            self.message(source),
            source=source or self.schema or "data",
            rows=self.rows,
            checks=self.checks,
            failures=[f.to_dict() for f in self.failures],
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "ok": self.ok,
            "rows": self.rows,
            "checks": self.checks,
            "failures": [f.to_dict() for f in self.failures],
        }

    def __str__(self) -> str:
        return self.message()


def show(value: object) -> str:
    """A value as it reads in a message: strings quoted, dates in ISO form."""
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def jsonable(value: object) -> Any:
    """``value`` as JSON data: dates in ISO form, NaN and infinities as text."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)
