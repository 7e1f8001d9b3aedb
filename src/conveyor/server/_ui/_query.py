"""The runs page's address as a search: its query parameters checked and turned into one
``RunQuery`` for one page, and the links to other pages, sorts and filters of it.

Pure: no store. Parameters a person can get wrong (a page number, a status) are refused with
a ClientError naming them; the filter expression is parsed by the tracking filter language,
whose ConveyorError shows where it went wrong.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final
from urllib.parse import urlencode

from conveyor.server._ui._site import bad
from conveyor.store import RUN_STATUSES, Condition, Ordering, RunQuery
from conveyor.store._tracking_records import ATTRIBUTES
from conveyor.tracking._filter import parse_filter

PER_PAGE: Final = 50
PER_PAGE_CHOICES: Final = (25, 50, 100, 200)
MAX_PAGE: Final = 1_000_000
_KINDS: Final = ("metrics", "params", "tags")
_TEXT_ATTRIBUTES: Final = ("run_id", "pipeline", "status", "user")


@dataclass(frozen=True, slots=True)
class RunsView:
    """What the runs page shows: filters, sort and page, as its URL carries them."""

    pipeline: str = ""
    status: str = ""
    text: str = ""  # part of a run id
    filter: str = ""  # the tracking filter language: metrics.acc > 0.9 and params.n = 10
    sort: str = ""  # "" (newest first), an attribute, or metrics.<key> / params.<key> / …
    descending: bool = True
    page: int = 1
    per_page: int = PER_PAGE

    def query(self) -> RunQuery:
        """One page of runs, and one run more: whether it comes back says if a next page
        exists, without counting every run. ConveyorError for a filter that does not parse."""
        conditions = list(parse_filter(self.filter))
        if self.status:
            conditions.append(Condition("attributes", "status", "=", self.status))
        if self.text:
            conditions.append(
                Condition("attributes", "run_id", "ilike", f"%{_literal(self.text)}%")
            )
        return RunQuery(
            pipelines=(self.pipeline,) if self.pipeline else (),
            conditions=tuple(conditions),
            order_by=(self.ordering(),) if self.sort else (),
            max_results=self.per_page + 1,
            offset=(self.page - 1) * self.per_page,
        )

    def ordering(self) -> Ordering:
        kind, _, key = self.sort.partition(".")
        if kind in _KINDS and key:
            return Ordering(kind, key, self.descending)  # type: ignore[arg-type]  # checked
        return Ordering("attributes", self.sort, self.descending)

    def link(self, **changes: object) -> str:
        """This view's URL with ``changes``; any change but the page goes back to page 1."""
        if "page" not in changes:
            changes["page"] = 1
        view = dataclasses.replace(self, **changes)  # type: ignore[arg-type]
        return "/ui/runs?" + urlencode(view.params())

    def sort_link(self, field: str) -> str:
        """Sort by ``field``; the current sort field again flips its direction."""
        first_down = field not in _TEXT_ATTRIBUTES  # newest, highest first; names A to Z
        descending = not self.descending if field == self.sort else first_down
        return self.link(sort=field, descending=descending)

    def params(self) -> dict[str, str]:
        values = {
            "pipeline": self.pipeline,
            "status": self.status,
            "q": self.text,
            "filter": self.filter,
            "sort": self.sort,
            "dir": "" if not self.sort else ("desc" if self.descending else "asc"),
            "page": "" if self.page == 1 else str(self.page),
            "per_page": "" if self.per_page == PER_PAGE else str(self.per_page),
        }
        return {k: v for k, v in values.items() if v}


def runs_view(params: Mapping[str, str]) -> RunsView:
    """The view a runs page URL asks for; ClientError (400) naming a parameter that is wrong."""
    status = params.get("status", "").strip()
    if status and status not in RUN_STATUSES:
        raise bad(400, f"unknown status {status!r}: use one of {', '.join(RUN_STATUSES)}")
    sort = params.get("sort", "").strip()
    kind, _, key = sort.partition(".")
    if sort and not ((kind in _KINDS and key) or sort in ATTRIBUTES):
        raise bad(
            400,
            f"cannot sort by {sort!r}: use {', '.join(ATTRIBUTES)}, or metrics.<key>, "
            "params.<key> or tags.<key>",
        )
    direction = params.get("dir", "desc").strip().lower() or "desc"
    if direction not in ("asc", "desc"):
        raise bad(400, f"dir is asc or desc, not {direction!r}")
    return RunsView(
        pipeline=params.get("pipeline", "").strip(),
        status=status,
        text=params.get("q", "").strip(),
        filter=params.get("filter", "").strip(),
        sort=sort,
        descending=direction == "desc",
        page=_whole(params, "page", 1, 1, MAX_PAGE),
        per_page=_per_page(params),
    )


def _whole(params: Mapping[str, str], name: str, default: int, low: int, high: int) -> int:
    text = params.get(name, "").strip()
    if not text:
        return default
    whole = text.isascii() and text.isdigit() and len(text) <= 9
    if not whole or not low <= int(text) <= high:
        raise bad(400, f"{name} must be a whole number from {low} to {high:,}, not {text!r}")
    return int(text)


def _per_page(params: Mapping[str, str]) -> int:
    chosen = _whole(params, "per_page", PER_PAGE, 1, max(PER_PAGE_CHOICES))
    if chosen not in PER_PAGE_CHOICES:
        raise bad(400, f"per_page is one of {', '.join(map(str, PER_PAGE_CHOICES))}")
    return chosen


def _literal(text: str) -> str:
    """``text`` matched as itself inside a LIKE pattern."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
