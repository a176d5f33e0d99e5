"""The demo's narrated tour: each behaviour of SPEC section 1, made to happen and then checked.

Every step acts (through the sandbox's API as a HubSpot user or integration would, or through
:mod:`hubsync.platform` as the platform application would) and then waits until the outcome is
visible where it must be (PostgreSQL, the HubSpot sandbox, the error log). A step that does not see
its outcome in time fails; the tour goes on with the next one.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import httpx
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from hubsync.demo.environment import DemoEnvironment
from hubsync.errors import FatalError
from hubsync.matching.domains import root_domain
from hubsync.matching.keys import normalize_email
from hubsync.platform import create_record, enrich_record, merge_records, set_setting, update_record

WAIT_S = 90.0


class StepFailedError(FatalError, AssertionError):
    """A step's outcome did not show up."""


@dataclass
class StepResult:
    name: str
    ok: bool
    detail: str
    seconds: float


class Tour:
    """The steps, sharing what earlier steps found (record ids, e-mails)."""

    def __init__(self, demo: DemoEnvironment, say: Callable[[str], None]) -> None:
        self.demo = demo
        self.say = say
        base = demo.sandbox.base_url
        self.api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {demo.token}"}, timeout=30)
        self.control = httpx.Client(base_url=f"{base}/_sandbox", timeout=30)
        self.facts: dict[str, Any] = {}

    # ---- helpers ------------------------------------------------------------------------------

    def rows(self, sql: str, *params: Any) -> list[dict[str, Any]]:
        with self.demo.connect() as conn, conn.cursor(row_factory=dict_row) as cur:
            cur.execute(sql, params)
            return list(cur.fetchall())

    def value(self, sql: str, *params: Any) -> Any:
        found = self.rows(sql, *params)
        return next(iter(found[0].values())) if found else None

    def wait_for(self, what: str, check: Callable[[], Any], timeout: float = WAIT_S) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            self.demo.check_processes()
            result = check()
            if result:
                return result
            if time.monotonic() > deadline:
                raise StepFailedError(f"{what}: not seen within {timeout:.0f} s")
            time.sleep(0.5)

    def hubspot(self, object_type: str, record_id: str, *props: str) -> dict[str, Any]:
        response = self.api.get(
            f"/crm/v3/objects/{object_type}/{record_id}", params={"properties": ",".join(props)}
        )
        response.raise_for_status()
        data: dict[str, Any] = response.json()
        return data

    def hubspot_all(self, object_type: str, *props: str) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        after: str | None = None
        while True:
            params: dict[str, Any] = {"limit": 100, "properties": ",".join(props)}
            if after:
                params["after"] = after
            body = self.api.get(f"/crm/v3/objects/{object_type}", params=params).json()
            out += body["results"]
            after = (body.get("paging") or {}).get("next", {}).get("after")
            if not after:
                return out

    def ui(self, method: str, path: str, **body: Any) -> dict[str, Any]:
        response = self.control.request(method, f"/ui/{path}", json=body or None)
        response.raise_for_status()
        return response.json() if response.content else {}

    # ---- preparation ----------------------------------------------------------------------------

    def prepare(self) -> str:
        """Give the prospect database some people and organizations that HubSpot has, some it has
        not; clear a few job titles in HubSpot (as a person would) so autofill has work."""
        contacts = self.hubspot_all("contacts", "email", "jobtitle")
        companies = self.hubspot_all("companies", "domain", "numberofemployees")
        with_email: list[
            tuple[dict[str, Any], str]
        ] = []  # one contact per normalized address (the sandbox plants duplicates)
        seen: set[str] = set()
        for c in contacts:
            email = normalize_email(c["properties"].get("email"))
            if email and email not in seen:
                seen.add(email)
                with_email.append((c, email))
        blank = with_email[:3]
        for contact, _ in blank:
            self.ui("PATCH", f"contacts/{contact['id']}", properties={"jobtitle": ""})
        self.facts["autofill"] = [(c["id"], email) for c, email in blank]
        people = [
            (email, {"jobtitle": "Head of Data", "city": "Lisbon"}) for _, email in self.facts["autofill"]
        ]
        people += [(email, {"city": "Porto"}) for _, email in with_email[3:20]]
        people += [(f"new.prospect{i}@net-new.example", {"jobtitle": "CTO"}) for i in range(10)]
        with_domain: list[
            dict[str, Any]
        ] = []  # companies with distinct root domains (the sandbox plants shared ones)
        roots: set[str] = set()
        for c in companies:
            root = root_domain(c["properties"].get("domain"))
            if root and root not in roots and len(with_domain) < 3:
                roots.add(root)
                with_domain.append(c)
        self.facts["overwrite"] = [(c["id"], str(2000 + i)) for i, c in enumerate(with_domain)]
        orgs = [
            (root_domain(c["properties"]["domain"]), {"numberofemployees": n})
            for c, (_, n) in zip(with_domain, self.facts["overwrite"], strict=True)
        ]
        orgs += [(f"netnew{i}.example", {"industry": "COMPUTER_SOFTWARE"}) for i in range(5)]
        with self.demo.connect() as conn:
            for email, attributes in people:
                conn.execute(
                    "INSERT INTO hubsync.prospect_people (email_normalized, first_name, attributes)"
                    " VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                    (email, "Prospect", psycopg_json(attributes)),
                )
            for domain, attributes in orgs:
                conn.execute(
                    "INSERT INTO hubsync.prospect_organizations (name, domain, domain_root, attributes)"
                    " VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                    (domain, domain, domain, psycopg_json(attributes)),
                )
        self.facts["contacts"], self.facts["companies"] = len(contacts), len(companies)
        return (
            f"HubSpot has {len(contacts)} contacts and {len(companies)} companies; the prospect database"
            f" {len(people)} people and {len(orgs)} organizations"
        )

    # ---- the steps ------------------------------------------------------------------------------

    def pull(self) -> str:
        process = self.demo.start("pull", "pull", "--full")
        if process.popen.wait(300) != 0:
            raise StepFailedError(f"hubsync pull --full failed:\n{process.tail()}")
        self.demo.processes.remove(process)
        want_c, want_a = self.facts["contacts"], self.facts["companies"]
        self.wait_for(
            f"{want_c} contacts and {want_a} companies mirrored",
            lambda: (
                self.value("SELECT count(*) FROM hubsync.contacts WHERE hubspot_id IS NOT NULL") >= want_c
                and self.value("SELECT count(*) FROM hubsync.accounts WHERE hubspot_id IS NOT NULL") >= want_a
            ),
        )
        self.wait_for(
            "prospects matching CRM contacts marked",
            lambda: self.value("SELECT count(*) FROM hubsync.net_new_people") == 10,
        )
        people_left = self.value("SELECT count(*) FROM hubsync.net_new_people")
        orgs_left = self.value("SELECT count(*) FROM hubsync.net_new_organizations")
        return (
            f"{want_c} contacts, {want_a} companies mirrored; net-new prospects left: {people_left} people,"
            f" {orgs_left} organizations (the ones matching CRM records were removed)"
        )

    def duplicates(self) -> str:
        pairs = self.wait_for(
            "potential duplicates flagged",
            lambda: self.rows(
                "SELECT signal, count(*) AS n FROM hubsync.potential_duplicates GROUP BY signal"
            ),
        )
        merged = self.value("SELECT count(*) FROM hubsync.contacts WHERE merged_into_id IS NOT NULL")
        if merged:
            raise StepFailedError("duplicates must never be merged automatically")
        return "flagged, none merged: " + ", ".join(f"{p['n']} by {p['signal']}" for p in pairs)

    def autofill(self) -> str:
        for hubspot_id, _email in self.facts["autofill"]:

            def filled(h: str = hubspot_id) -> bool:
                return bool(
                    self.hubspot("contacts", h, "jobtitle")["properties"].get("jobtitle") == "Head of Data"
                )

            self.wait_for(f"contact {hubspot_id}'s empty job title autofilled in HubSpot", filled)
        return f"{len(self.facts['autofill'])} empty job titles filled in HubSpot from the prospect database"

    def overwrite(self) -> str:
        for hubspot_id, employees in self.facts["overwrite"]:

            def overwritten(h: str = hubspot_id, n: str = employees) -> bool:
                found = self.hubspot("companies", h, "numberofemployees")["properties"].get(
                    "numberofemployees"
                )
                return bool(found == n)

            self.wait_for(f"company {hubspot_id}'s employee count overwritten in HubSpot", overwritten)
        done = len(self.facts["overwrite"])
        return f"{done} companies' employee counts overwritten with the prospect database's"

    def push_platform_record(self) -> str:
        with self.demo.connect() as conn:
            rid = create_record(
                conn,
                "contact",
                {"email": "katherine@platform.example", "firstname": "Katherine", "lastname": "Johnson"},
            )
        hubspot_id = self.wait_for(
            "the platform contact created in HubSpot and linked",
            lambda: self.value("SELECT hubspot_id FROM hubsync.contacts WHERE id = %s", rid),
        )
        found = self.hubspot("contacts", hubspot_id, "email", "hubsync_record_id")["properties"]
        if found.get("hubsync_record_id") != str(rid):
            raise StepFailedError(f"HubSpot record {hubspot_id} does not carry hubsync_record_id {rid}")
        self.facts["pushed"] = (rid, hubspot_id)
        return f"platform contact {rid} created in HubSpot as {hubspot_id} (push.scope = all)"

    def hubspot_delete(self) -> str:
        hubspot_id = self.facts["autofill"][-1][0]
        self.ui("DELETE", f"contacts/{hubspot_id}")
        self.wait_for(
            "the contact marked deleted in CRM",
            lambda: (
                self.value("SELECT crm_status FROM hubsync.contacts WHERE hubspot_id = %s", hubspot_id)
                == "deleted_in_crm"
            ),
        )
        return f"contact {hubspot_id} deleted in HubSpot: kept as deleted_in_crm, no longer synced"

    def hubspot_merge(self) -> str:
        a, b = self.facts["autofill"][0][0], self.facts["autofill"][1][0]
        self.ui("POST", "contacts/merge", primaryObjectId=a, objectIdToMerge=b)
        self.wait_for(
            "the merged-away contact marked merged in CRM",
            lambda: (
                self.value("SELECT crm_status FROM hubsync.contacts WHERE hubspot_id = %s", b)
                == "merged_in_crm"
            ),
        )
        rows = self.value("SELECT count(*) FROM hubsync.contacts WHERE hubspot_id IN (%s, %s)", a, b)
        return f"HubSpot merged {b} into {a}: both platform records kept ({rows}), {b} no longer synced"

    def platform_merge(self) -> str:
        with self.demo.connect() as conn:
            survivor = create_record(
                conn, "contact", {"email": "rosalind@platform.example", "firstname": "Rosalind"}
            )
            merged = create_record(
                conn, "contact", {"email": "r.franklin@platform.example", "firstname": "Rosalind"}
            )
        self.wait_for(
            "both platform contacts pushed",
            lambda: (
                self.value(
                    "SELECT count(*) FROM hubsync.contacts WHERE id IN (%s, %s) AND hubspot_id IS NOT NULL",
                    survivor,
                    merged,
                )
                == 2
            ),
        )
        with self.demo.connect() as conn:
            merge_records(conn, survivor, merged)
        status = self.value("SELECT crm_status FROM hubsync.contacts WHERE id = %s", merged)
        if status != "merged_in_platform":
            raise StepFailedError(f"merged record has status {status}")
        return f"platform merged {merged} into {survivor}: only {survivor} is synced from now on"

    def validation_error(self) -> str:
        self.control.post(
            "/validation-rules",
            json={
                "object_type": "contact",
                "property": "firstname",
                "kind": "max_length",
                "max_length": 8,
                "message": "First name must be 8 characters or fewer",
            },
        ).raise_for_status()
        rid, _ = self.facts["pushed"]
        with self.demo.connect() as conn:
            update_record(conn, rid, {"firstname": "Katherine-Coleman"})
        error = self.wait_for(
            "the validation error in the error log",
            lambda: self.rows(
                "SELECT id, http_status, category, message FROM hubsync.push_errors WHERE record_id = %s", rid
            ),
        )[0]
        self.control.delete("/validation-rules").raise_for_status()
        return f"error {error['id']}: HTTP {error['http_status']} {error['category']}: {error['message']}"

    def manual_enrichment(self) -> str:
        rid, hubspot_id = self.facts["pushed"]
        with self.demo.connect() as conn:
            set_setting(conn, "mapping.contact.city", "none")
            enrich_record(conn, rid, "city", "Hampton")
        self.wait_for(
            "the manual enrichment in HubSpot",
            lambda: self.hubspot("contacts", hubspot_id, "city")["properties"].get("city") == "Hampton",
        )
        return f"city of {hubspot_id} set by hand and pushed although its mapping is none"

    def quiet(self) -> str:
        def settled() -> bool:
            return bool(self.value("SELECT count(*) = 0 FROM hubsync.outbox WHERE published_at IS NULL"))

        self.wait_for("the outbox drained", settled)
        time.sleep(3)
        before = (self.value("SELECT count(*) FROM hubsync.outbox"), self._writes())
        time.sleep(8)
        after = (self.value("SELECT count(*) FROM hubsync.outbox"), self._writes())
        if before != after:
            raise StepFailedError(f"still busy: outbox rows/HubSpot writes went from {before} to {after}")
        return f"no new outbox rows and no HubSpot writes for 8 s ({after[0]} outbox rows in all): quiet"

    def _writes(self) -> int:
        entries = self.control.get("/requests", params={"method": "POST", "limit": 10_000}).json()["results"]
        return len(
            [e for e in entries if "/batch/" in e.get("path", "") and "/read" not in e.get("path", "")]
        )


def psycopg_json(value: dict[str, Any]) -> Jsonb:
    return Jsonb(value)


STEPS: list[tuple[str, str]] = [
    ("prepare", "Prospect database and HubSpot data"),
    ("pull", "Pull: every HubSpot record mirrored, prospect matches removed"),
    ("duplicates", "Duplicates flagged, never merged"),
    ("autofill", "Autofill: empty HubSpot fields filled"),
    ("overwrite", "Overwrite: HubSpot values replaced"),
    ("push_platform_record", "A platform record pushed to HubSpot"),
    ("hubspot_delete", "Deleted only in HubSpot"),
    ("hubspot_merge", "Merged only in HubSpot"),
    ("platform_merge", "Merged in the platform"),
    ("validation_error", "A validation error in the error log"),
    ("manual_enrichment", "Manual enrichment with the mapping off"),
    ("quiet", "The loop goes quiet"),
]


def run_tour(demo: DemoEnvironment, say: Callable[[str], None]) -> list[StepResult]:
    tour = Tour(demo, say)
    results: list[StepResult] = []
    for method, title in STEPS:
        say(f"[bold]{title}[/bold]")
        started = time.perf_counter()
        try:
            detail = getattr(tour, method)()
            ok = True
        except (StepFailedError, httpx.HTTPError, RuntimeError) as exc:
            detail, ok = str(exc), False
        results.append(StepResult(title, ok, detail, time.perf_counter() - started))
        say(("  [green]ok[/green] " if ok else "  [red]FAILED[/red] ") + detail)
    return results
