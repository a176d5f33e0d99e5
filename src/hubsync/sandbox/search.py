"""HubSpot CRM search: filterGroups (OR of ANDs), one sort, ``query``, offset paging and its cap.

The poller's query (modification time range, sorted by modification time) runs on the
modification-time index in O(log n + page); other queries use unique-value indexes for EQ/IN on
``email``/unique properties/``hs_object_id`` where every group has one, else a scan.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from hubsync.hubspot_model.objects import MODIFIED_PROPERTY, HubSpotObjectName
from hubsync.hubspot_model.properties import SEARCHABLE_PROPERTIES
from hubsync.sandbox.errors import ErrorDetail, HubSpotApiError, validation_error
from hubsync.sandbox.records import Record
from hubsync.sandbox.search_filters import Filter, compile_filter, parse_filter, record_key, tokens
from hubsync.sandbox.store import CrmStore
from hubsync.sandbox.tables import ID_MASK, Table, is_object_id

MAX_FILTER_GROUPS = 5
MAX_FILTERS_PER_GROUP = 6
MAX_FILTERS = 18
MAX_LIMIT = 200
DEFAULT_LIMIT = 10
MAX_QUERY_LENGTH = 3000


@dataclass(frozen=True)
class SearchRequest:
    groups: list[list[Filter]]
    sort_property: str | None
    descending: bool
    query: str | None
    properties: list[str] | None
    limit: int
    after: int


@dataclass(frozen=True)
class SearchPage:
    records: list[Record]
    total: int
    next_after: str | None


def _bad(message: str, field: str | None = None) -> HubSpotApiError:
    errors = [ErrorDetail(message=message, location=field)] if field else None
    return validation_error(message, errors=errors)


def _int(value: object, field: str, default: int) -> int:
    if value is None or value == "":
        return default
    try:
        return int(str(value))
    except ValueError:
        raise _bad(f"{field} must be an integer, got {value!r}", field) from None


def _sort(raw: object) -> tuple[str | None, bool]:
    if raw is None or raw == []:
        return None, False
    if not isinstance(raw, list):
        raise _bad("sorts must be an array", "sorts")
    if len(raw) > 1:
        raise _bad("Only one sort is supported per search request", "sorts")
    item = raw[0]
    if isinstance(item, str):  # "createdate" or "-createdate"
        return (item[1:], True) if item.startswith("-") else (item, False)
    if isinstance(item, Mapping) and isinstance(item.get("propertyName"), str):
        direction = str(item.get("direction", "ASCENDING")).upper()
        if direction not in ("ASCENDING", "DESCENDING"):
            raise _bad(f"Sort direction {direction} is not ASCENDING or DESCENDING", "sorts")
        return item["propertyName"], direction == "DESCENDING"
    raise _bad("Each sort needs a propertyName", "sorts")


def parse_search(store: CrmStore, object_type: HubSpotObjectName, body: Mapping[str, Any]) -> SearchRequest:
    """Check a ``PublicObjectSearchRequest`` against HubSpot's limits; a 400 when it breaks one."""
    raw_groups = body.get("filterGroups") or []
    if not isinstance(raw_groups, list):
        raise _bad("filterGroups must be an array", "filterGroups")
    if len(raw_groups) > MAX_FILTER_GROUPS:
        raise _bad(
            f"Too many filter groups: at most {MAX_FILTER_GROUPS} are allowed, got {len(raw_groups)}",
            "filterGroups",
        )
    groups: list[list[Filter]] = []
    for raw_group in raw_groups:
        raw_filters = raw_group.get("filters") if isinstance(raw_group, Mapping) else None
        if not isinstance(raw_filters, list):
            raise _bad("Each filter group needs a filters array", "filterGroups")
        if len(raw_filters) > MAX_FILTERS_PER_GROUP:
            raise _bad(f"Too many filters in a group: at most {MAX_FILTERS_PER_GROUP} are allowed", "filters")
        groups.append([parse_filter(store, object_type, f) for f in raw_filters])
    if sum(len(g) for g in groups) > MAX_FILTERS:
        raise _bad(f"Too many filters: at most {MAX_FILTERS} are allowed across all groups", "filterGroups")
    sort_property, descending = _sort(body.get("sorts"))
    if sort_property is not None and store.registry.find(object_type, sort_property) is None:
        raise _bad(f"Cannot sort by unknown property {sort_property}", "sorts")
    query = body.get("query")
    if query is not None and (not isinstance(query, str) or len(query) > MAX_QUERY_LENGTH):
        raise _bad(f"query must be a string of at most {MAX_QUERY_LENGTH} characters", "query")
    limit = _int(body.get("limit"), "limit", DEFAULT_LIMIT)
    if not 0 <= limit <= MAX_LIMIT:
        raise _bad(f"limit must be between 0 and {MAX_LIMIT}, got {limit}", "limit")
    after = _int(body.get("after"), "after", 0)
    cap = store.config.search_result_cap
    if after < 0:
        raise _bad("after must not be negative", "after")
    if after >= cap:
        raise _bad(
            f"Search results are limited to {cap} per query; the page starting at {after} is beyond that. "
            "Narrow the query (e.g. split the time window) to page through more.",
            "after",
        )
    props = body.get("properties")
    properties = [str(p) for p in props] if isinstance(props, list) and props else None
    return SearchRequest(groups, sort_property, descending, query or None, properties, limit, after)


def run_search(store: CrmStore, object_type: HubSpotObjectName, request: SearchRequest) -> SearchPage:
    table = store.table(object_type)
    fast = _indexed_range(store, object_type, request)
    if fast is not None:
        return fast
    predicate = _predicate(store, object_type, request)
    matches = [r for r in _candidates(store, table, request) if predicate(r)]
    if request.sort_property is not None:
        matches = _sorted(store, object_type, matches, request.sort_property, request.descending)
    return _page(matches[request.after : request.after + request.limit], len(matches), request)


def _page(records: list[Record], total: int, request: SearchRequest) -> SearchPage:
    end = request.after + len(records)
    return SearchPage(records, total, str(end) if end < total and records else None)


def _predicate(
    store: CrmStore, object_type: HubSpotObjectName, request: SearchRequest
) -> Callable[[Record], bool]:
    compiled = [[compile_filter(store, object_type, f) for f in group] for group in request.groups]
    query_tokens = tokens(request.query) if request.query else []
    searchable = SEARCHABLE_PROPERTIES[object_type]

    def matches_query(record: Record) -> bool:
        words = set()
        for name in searchable:
            value = record.value(name)
            if value:
                words.update(tokens(value))
                words.add(value.lower())
        return all(any(w.startswith(t) for w in words) for t in query_tokens)

    def predicate(record: Record) -> bool:
        if compiled and not any(all(p(record) for p in group) for group in compiled):
            return False
        return not query_tokens or matches_query(record)

    return predicate


def _candidates(store: CrmStore, table: Table, request: SearchRequest) -> Iterable[Record]:
    """Records to test: index lookups when every group pins an indexed property, else all."""
    if not request.groups:
        return table.iter_active()
    ids: set[int] = set()
    for group in request.groups:
        pinned = next(
            (f for f in group if f.operator in ("EQ", "IN") and _indexed(store, table, f.property)), None
        )
        if pinned is None:
            return table.iter_active()
        for value in pinned.values:
            if pinned.property == "hs_object_id":
                ids.add(table.resolve_alias(int(value)) if is_object_id(value) else -1)
            else:
                key = value.lower() if pinned.property == "email" else value
                owner = store._unique_index(table, pinned.property).get(key)
                if owner is not None:
                    ids.add(owner)
    found = (table.records.get(i) for i in sorted(ids))
    return [r for r in found if r is not None and r.archived_ms is None]


def _indexed(store: CrmStore, table: Table, name: str) -> bool:
    if name == "hs_object_id" or (name == "email" and table.object_type == "contact"):
        return True
    prop = store.registry.find(table.object_type, name)
    return prop is not None and prop.has_unique_value


def _sorted(
    store: CrmStore, object_type: HubSpotObjectName, records: list[Record], name: str, desc: bool
) -> list[Record]:
    key = record_key(store, object_type, name)
    keyed = [(key(r), r) for r in records]
    present = [(k, r) for k, r in keyed if k is not None]
    missing = [r for k, r in keyed if k is None]
    present.sort(key=lambda kr: (kr[0], kr[1].id), reverse=desc)
    return [r for _, r in present] + missing


def _indexed_range(
    store: CrmStore, object_type: HubSpotObjectName, request: SearchRequest
) -> SearchPage | None:
    """The poller's query on the modification-time index; None when the request does not fit it."""
    modified = MODIFIED_PROPERTY[object_type]
    if request.sort_property != modified or request.query or len(request.groups) > 1:
        return None
    group = request.groups[0] if request.groups else []
    low: int | None = None
    high: int | None = None
    rest: list[Filter] = []
    for f in group:
        bounds = f.time_bounds() if f.property == modified else None
        if bounds is None:
            rest.append(f)
            continue
        lo, hi = bounds
        low = lo if low is None or (lo is not None and lo > low) else low
        high = hi if high is None or (hi is not None and hi < high) else high
    index = store.table(object_type).by_modified
    lo_key = None if low is None else low << 40
    hi_key = None if high is None else high << 40
    if lo_key is not None and hi_key is not None and lo_key >= hi_key:
        return _page([], 0, request)
    records = store.table(object_type).records
    if not rest:
        start = 0 if lo_key is None else index.bisect_left(lo_key)
        stop = len(index) if hi_key is None else index.bisect_left(hi_key)
        total = max(0, stop - start)
        if request.descending:
            keys = index.islice(
                max(start, stop - request.after - request.limit), stop - request.after, reverse=True
            )
        else:
            keys = index.islice(start + request.after, min(stop, start + request.after + request.limit))
        return _page([records[k & ID_MASK] for k in keys], total, request)
    compiled = [compile_filter(store, object_type, f) for f in rest]
    keys_in_range: Iterator[int] = index.irange(
        lo_key, hi_key, inclusive=(True, False), reverse=request.descending
    )
    matching = (r for r in (records[k & ID_MASK] for k in keys_in_range) if all(p(r) for p in compiled))
    page: list[Record] = []
    total = 0
    for record in itertools.islice(matching, 0, None):
        if request.after <= total < request.after + request.limit:
            page.append(record)
        total += 1
    return _page(page, total, request)
