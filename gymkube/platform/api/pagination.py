"""Cursor pagination for list routes: `limit`, an opaque `cursor`, and the next page's cursor.

A cursor names the last item of the page it came from (in the route's stable order), so a walk
sees every item that existed throughout exactly once, whatever is added or removed meanwhile,
and a page costs the same however far into the list it is (an offset would make S3 list and
skip everything before it). The next page's cursor is in the body's `next` where the body is
an object, and always in a `Link: <...>; rel="next"` header (RFC 8288), absent on the last page.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from itertools import islice
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Query, Request, Response, status

from gymkube.storage.backends import check_key

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
_MAX_POSITION = 300
_VERSION = "v1"
Item = TypeVar("Item")


@dataclass(frozen=True)
class PageRequest:
    """What a client asked for: at most `limit` items of `kind` after position `after` ('' = from the start)."""

    kind: str
    limit: int
    after: str

    def cursor_after(self, position: str) -> str:
        """The opaque cursor of the page that follows `position`."""
        text = f"{_VERSION}:{self.kind}:{position}"
        return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")

    def take(self, items: Iterable[Item], position: Callable[[Item], str]) -> tuple[list[Item], str | None]:
        """This page of `items` (in order, already past `after`) and the next page's cursor, or None at the end.

        Reads at most `limit + 1` items, so a lazy listing stops there.
        """
        page = list(islice(items, self.limit + 1))
        if len(page) <= self.limit:
            return page, None
        page = page[: self.limit]
        return page, self.cursor_after(position(page[-1]))


def _position(kind: str, cursor: str) -> str:
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    version, _, rest = text.partition(":")
    cursor_kind, _, position = rest.partition(":")
    try:
        valid = version == _VERSION and cursor_kind == kind and check_key(position) == position
    except ValueError:
        valid = False
    if not valid or len(position) > _MAX_POSITION:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"the cursor is not one this list gave out; start again without it (list {kind})",
        )
    return position


def paged(kind: str) -> Any:
    """A dependency reading `limit` and `cursor` for the list of `kind` (422 on bad values)."""

    def page_request(
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page, 1 to {MAX_LIMIT}")] = (
            DEFAULT_LIMIT
        ),
        cursor: Annotated[
            str | None, Query(max_length=400, description="the `next` cursor of the previous page")
        ] = None,
    ) -> PageRequest:
        return PageRequest(kind, limit, _position(kind, cursor) if cursor else "")

    return Depends(page_request)


def link_next(request: Request, response: Response, cursor: str | None) -> None:
    """Point the `Link` header at the next page, when there is one."""
    if cursor is not None:
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'
