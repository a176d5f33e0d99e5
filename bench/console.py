"""The admin console's pages with 100,000 records in the database: each must answer in under
300 ms (issue 18). ``python -m bench.console [--records N] [--requests K]``.

The database is filled the way the sync fills it: contacts written by ingest's own reducer and
record writer (with their e-mail, name and company keys), duplicate detection run over all of them
(its planted pairs flagged), accounts created through the platform's own function, and, per
contact, its creation and one field change in the activity log; push errors over a week (mixed
categories and statuses), and refused autofill values. The console runs in this process with its
production pool; an admin's browser is played by an HTTP client holding a signed-in session.

Each page is requested ``--requests`` times after one warm-up; the table gives min / median / p95
/ max. Every answer is checked before it counts (the records searched for are found, the error log
shows a full page of the filter's rows, the pair list holds flagged pairs ...), so a fast wrong page
fails the benchmark.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from pydantic import SecretStr
from rich.console import Console
from rich.table import Table

from bench._change_events import contact_snapshot_events
from bench._report import RESULTS_DIR
from hubsync.console.users import save_user
from hubsync.ingest.events import change_event
from hubsync.ingest.record_io import RecordRow, write_records
from hubsync.ingest.reducer import apply_event
from hubsync.matching.duplicates import flag_duplicates
from hubsync.matching.record_keys import keys_of
from hubsync.platform import create_record
from hubsync.settings import Settings
from hubsync.storage.defaults import load_defaults, seed_defaults
from hubsync.storage.migrate import migrate
from hubsync.storage.portal_scope import current_portal
from hubsync.testing import PostgresServer, fresh_database
from hubsync.testing.console import serving_console

TARGET_MS = 300.0
SECRET = "bench-console-session-secret-0123456789abcdef"
ADMIN = ("bench", "bench-admin-password")
CATEGORIES = ("VALIDATION_ERROR", "RATE_LIMITS", "OBJECT_ALREADY_EXISTS", "INVALID_EMAIL", "CONFLICT")
_CHUNK = 5_000


def _seed(url: str, records: int, accounts: int, errors: int) -> dict[str, Any]:
    """Fill the database; returns what the checks need to know."""
    migrate(url)
    facts: dict[str, Any] = {}
    with psycopg.connect(url) as conn:
        seed_defaults(conn, load_defaults())
        save_user(conn, *ADMIN, "admin")
        portal = current_portal(conn)
        rows: list[RecordRow] = []
        sample: dict[str, Any] = {}
        for i, (_key, value) in enumerate(contact_snapshot_events(records, seed=7, duplicate_ratio=0.02)):
            state, _ = apply_event(None, change_event(value))
            rows.append(RecordRow("contact", state, keys_of("contact", state.properties)))
            if i == records // 2:
                sample = {"hubspot_id": value["object_id"], **value["properties"]}
            if len(rows) >= _CHUNK:
                write_records(conn, rows, old_keys={})
                conn.commit()
                rows.clear()
        if rows:
            write_records(conn, rows, old_keys={})
        conn.commit()
        ids = [int(r[0]) for r in conn.execute("SELECT id FROM hubsync.contacts ORDER BY id")]
        pairs = 0
        for start in range(0, len(ids), _CHUNK):
            pairs += len(flag_duplicates(conn, "contact", ids[start : start + _CHUNK]))
            conn.commit()
        facts["pairs"] = pairs
        facts["contact"] = {
            "id": conn.execute(
                "SELECT id FROM hubsync.contacts WHERE hubspot_id = %s", (sample["hubspot_id"],)
            ).fetchone()[0],  # type: ignore[index]
            **sample,
        }
        conn.commit()
        conn.autocommit = True
        for i in range(accounts):
            create_record(conn, "account", {"name": f"Bench Account {i}", "domain": f"bench-account-{i}.com"})
        conn.autocommit = False
        now = datetime.now(UTC)
        rng = random.Random(11)
        with conn.cursor() as cur:
            with cur.copy(
                "COPY hubsync.activity_log_all (portal_id, object_type, record_id, occurred_at, action,"
                " field, before, after, rule, cause_source, cause_event) FROM STDIN"
            ) as copy:
                for rid in ids:
                    at = now - timedelta(days=rng.randrange(1, 300))
                    copy.write_row(
                        (
                            portal,
                            "contact",
                            rid,
                            at,
                            "created_from_hubspot",
                            None,
                            None,
                            None,
                            "mirror",
                            "BACKFILL",
                            f"bench:{rid}",
                        )
                    )
                    copy.write_row(
                        (
                            portal,
                            "contact",
                            rid,
                            at + timedelta(hours=1),
                            "updated",
                            "lastname",
                            '"Old"',
                            '"New"',
                            "mirror",
                            "WEBHOOK",
                            f"bench:{rid}:1",
                        )
                    )
                for i in range(1_000):
                    copy.write_row(
                        (
                            portal,
                            "contact",
                            ids[i * 37 % len(ids)],
                            now - timedelta(minutes=i),
                            "value_rejected",
                            ("jobtitle", "phone", "city")[i % 3],
                            None,
                            '"n/a"',
                            "autofill",
                            "WEBHOOK",
                            f"bench:rejected:{i}",
                        )
                    )
            with cur.copy(
                "COPY hubsync.push_errors_all (portal_id, object_type, record_id, operation, http_status,"
                " category, message, correlation_id, status, attempts, first_seen, last_seen) FROM STDIN"
            ) as copy:
                for i in range(errors):
                    at = now - timedelta(minutes=rng.randrange(0, 7 * 24 * 60))
                    copy.write_row(
                        (
                            portal,
                            "contact",
                            ids[i * 13 % len(ids)],
                            "update",
                            400,
                            CATEGORIES[i % 5],
                            f"Property values were not valid (bench {i})",
                            f"corr-{i}",
                            ("open", "retrying", "resolved")[i % 3],
                            1 + i % 4,
                            at,
                            at,
                        )
                    )
        conn.commit()
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
    return facts


Check = Callable[[httpx.Response], bool]


def _measure(
    client: httpx.Client,
    method: str,
    path: str,
    data: dict[str, str] | None,
    check: Check,
    requests: int,
    csrf: str,
) -> list[float]:
    def once() -> float:
        started = time.perf_counter()
        if method == "GET":
            answer = client.get(path)
        else:
            answer = client.post(path, data={"csrf": csrf, **(data or {})})
        took = (time.perf_counter() - started) * 1000
        if answer.status_code != 200 or not check(answer):
            raise SystemExit(f"{method} {path}: wrong answer ({answer.status_code}): {answer.text[-400:]}")
        return took

    once()  # warm-up: the pool's connections, the templates
    return [once() for _ in range(requests)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=100_000)
    parser.add_argument("--accounts", type=int, default=1_000)
    parser.add_argument("--errors", type=int, default=5_000)
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument(
        "--json", type=Path, default=RESULTS_DIR / "console.json", help="Where the results go."
    )
    args = parser.parse_args(argv)
    import os

    with PostgresServer() if not os.environ.get("DATABASE_URL") else contextlib.nullcontext() as server:
        server_url = os.environ.get("DATABASE_URL") or server.url  # type: ignore[union-attr]
        with fresh_database(server_url, "hubsync_bench_console") as url:
            began = time.monotonic()
            facts = _seed(url, args.records, args.accounts, args.errors)
            seeded_s = time.monotonic() - began
            settings = Settings(
                database_url=SecretStr(url),
                console_auth="password",
                console_session_secret=SecretStr(SECRET),
                console_secure_cookies=False,
            )
            with serving_console(settings) as base, httpx.Client(base_url=base, timeout=30) as client:
                rows = _run_pages(client, facts, args)
    return _report(rows, args, facts, seeded_s)


def _run_pages(client: httpx.Client, facts: dict[str, Any], args: argparse.Namespace) -> list[dict[str, Any]]:
    page = client.get("/login")
    token = page.text.split('name="token" value="')[1].split('"')[0]
    signed = client.post("/login", data={"token": token, "username": ADMIN[0], "password": ADMIN[1]})
    assert signed.status_code == 303, signed.text
    csrf = client.get("/records").text.split('name="csrf" value="')[1].split('"')[0]
    contact = facts["contact"]
    rid = contact["id"]
    found = f'<a href="/records/{rid}">{rid}</a>'
    total = f"{args.records:,}"

    def rows_shown(answer: httpx.Response) -> int:
        return answer.text.count('<tr id="error-')

    pages: list[tuple[str, str, str, dict[str, str] | None, Check]] = [
        ("overview", "GET", "/", None, lambda a: total in a.text),
        ("settings", "GET", "/settings", None, lambda a: "push_scope" in a.text),
        (
            "field mapping",
            "GET",
            "/mappings",
            None,
            lambda a: "mapping-contact-jobtitle" in a.text and "Refused" in a.text,
        ),
        ("error log (unresolved)", "GET", "/errors", None, lambda a: rows_shown(a) == 100),
        (
            "error log (category, object, last day)",
            "GET",
            "/errors?status=all&category=RATE_LIMITS&object=contact&since="
            + (datetime.now(UTC) - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M"),
            None,
            lambda a: 0 < rows_shown(a) <= 100,
        ),
        (
            "duplicates",
            "GET",
            "/duplicates",
            None,
            lambda a: 0 < a.text.count('class="pair"') <= 100,
        ),
        (
            "record search: e-mail",
            "POST",
            "/records",
            {"field": "email", "q": contact["email"].upper()},
            lambda a: found in a.text,
        ),
        (
            "record search: name",
            "POST",
            "/records",
            {"field": "name", "q": f"{contact['firstname']} {contact['lastname']}"},
            lambda a: found in a.text,
        ),
        (
            "record search: HubSpot id",
            "POST",
            "/records",
            {"field": "hubspot_id", "q": contact["hubspot_id"]},
            lambda a: found in a.text,
        ),
        (
            "record search: domain",
            "POST",
            "/records",
            {"field": "domain", "q": "www.bench-account-7.com"},
            lambda a: "Bench Account 7" in a.text,
        ),
        (
            "record and lineage",
            "GET",
            f"/records/{rid}",
            None,
            lambda a: contact["email"] in a.text and 'id="field-lastname"' in a.text,
        ),
    ]
    out = []
    for name, method, path, data, check in pages:
        samples = sorted(_measure(client, method, path, data, check, args.requests, csrf))
        p95 = samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
        out.append(
            {
                "metric": name,
                "unit": "ms",
                "min": samples[0],
                "median": statistics.median(samples),
                "p95": p95,
                "max": samples[-1],
                "target": f"< {TARGET_MS:.0f} ms",
                "ok": p95 < TARGET_MS,
            }
        )
    return out


def _report(
    rows: list[dict[str, Any]], args: argparse.Namespace, facts: dict[str, Any], seeded_s: float
) -> int:
    import json
    import os
    import platform

    table = Table(
        title=f"Console pages, {args.records:,} contacts ({args.requests} requests each, after a warm-up)"
    )
    for column in ("page", "min", "median", "p95", "max", "target", "ok"):
        table.add_column(column, justify="left" if column == "page" else "right")
    for row in rows:
        table.add_row(
            row["metric"],
            *(f"{row[k]:.1f} ms" for k in ("min", "median", "p95", "max")),
            row["target"],
            "[green]yes[/green]" if row["ok"] else "[red]no[/red]",
        )
    Console(width=140).print(table)
    path: Path = args.json
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        json.dumps(
            {
                "benchmark": "console",
                "measured_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "records": args.records,
                "accounts": args.accounts,
                "push_errors": args.errors,
                "duplicate_pairs": facts["pairs"],
                "seed_seconds": round(seeded_s, 1),
                "results": rows,
            },
            indent=2,
        )
    )
    Console().print(f"wrote {path}")
    return 0 if all(row["ok"] for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
