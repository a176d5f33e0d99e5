"""The fault suite's workload and oracle.

:class:`Workload` makes changes on both sides, as users do: contacts created, edited and merged by
a person in HubSpot (the sandbox's UI endpoints, which fire webhooks), and records created and
edited in the platform (``hubsync.platform``, each with its outbox row), a few with a value HubSpot
refuses. It keeps a :class:`Ledger` of what each contact must end as.

:func:`check` compares the ledger with HubSpot's records (the sandbox's API), PostgreSQL and the
latest ``crm.contacts`` message of every record, and returns every difference, sorted by kind:

* ``lost``: a record or change missing from HubSpot or PostgreSQL, a merge not applied;
* ``duplicated``: two HubSpot records for one contact, two platform records for one HubSpot id
  or one e-mail address;
* ``regressed``: a field holding another value than its last write;
* ``error_log``: a refused push with no open row in the error log (or one that reached HubSpot);
* ``crm_topic``: a record whose latest ``crm.contacts`` message differs from PostgreSQL.
"""

from __future__ import annotations

import random
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from bench._fault_env import REFUSED_LASTNAME_LENGTH, FaultEnvironment
from hubsync.avro import SchemaRepository, SingleObjectCodec
from hubsync.platform import create_record, update_record
from hubsync.testing.child_env import child_env

T = TypeVar("T")

PROBLEM_KINDS = ("lost", "duplicated", "regressed", "error_log", "crm_topic")


@dataclass
class Expected:
    """What one contact must end as."""

    email: str
    firstname: str
    lastname: str
    origin: str  # "hubspot" (made in HubSpot) or "platform"
    hubspot_id: str | None = None
    record_id: int | None = None
    refused: bool = False
    merged_into: str | None = None
    #: False for a merge's survivor: HubSpot decides its values, PostgreSQL must then hold them
    values_known: bool = True


@dataclass
class Ledger:
    contacts: list[Expected] = field(default_factory=list)

    def live_hubspot_born(self) -> list[Expected]:
        return [
            c for c in self.contacts if c.origin == "hubspot" and c.merged_into is None and c.values_known
        ]

    def platform_born(self) -> list[Expected]:
        return [c for c in self.contacts if c.origin == "platform" and not c.refused]


@dataclass
class Problem:
    kind: str
    detail: str


class Workload:
    """Changes on both sides, recorded in :attr:`ledger`; seeded, so a run can be repeated."""

    def __init__(self, env: FaultEnvironment, seed: int) -> None:
        self.env = env
        self.rng = random.Random(seed)
        self.ledger = Ledger()
        self.api = env.api
        self.run_id = uuid.uuid4().hex[:6]
        self._n = 0
        #: what faults observed on the way (printed with the trial)
        self.notes: list[str] = []
        #: manual pulls still running
        self.pulls: list[subprocess.Popen[bytes]] = []

    def close(self) -> None:
        self.wait_for_pulls(10.0)
        self.api.close()

    def _email(self) -> str:
        self._n += 1
        return f"f{self.run_id}-{self._n}@faults{self._n % 7}.example.com"

    def _name(self, prefix: str) -> str:
        return f"{prefix}{self.rng.randrange(10**6):06d}"

    def hubspot_create(self) -> None:
        c = Expected(self._email(), self._name("Hf"), self._name("Hl"), "hubspot")
        answer = self.api.post(
            "/_sandbox/ui/contacts",
            json={"properties": {"email": c.email, "firstname": c.firstname, "lastname": c.lastname}},
        )
        answer.raise_for_status()
        c.hubspot_id = str(answer.json()["id"])
        self.ledger.contacts.append(c)

    def hubspot_edit(self) -> None:
        candidates = self.ledger.live_hubspot_born()
        if not candidates:
            return
        c = self.rng.choice(candidates)
        c.firstname = self._name("He")
        self.api.patch(
            f"/_sandbox/ui/contacts/{c.hubspot_id}", json={"properties": {"firstname": c.firstname}}
        ).raise_for_status()

    def hubspot_merge(self) -> None:
        candidates = self.ledger.live_hubspot_born()
        if len(candidates) < 4:  # keep some to edit
            return
        survivor, merged = self.rng.sample(candidates, 2)
        self.api.post(
            "/_sandbox/ui/contacts/merge",
            json={"primaryObjectId": survivor.hubspot_id, "objectIdToMerge": merged.hubspot_id},
        ).raise_for_status()
        merged.merged_into = survivor.hubspot_id
        survivor.values_known = False

    def platform_create(self, *, refused: bool = False) -> None:
        lastname = "L" * (REFUSED_LASTNAME_LENGTH + 5) if refused else self._name("Pl")
        c = Expected(self._email(), self._name("Pf"), lastname, "platform", refused=refused)
        fields = {"email": c.email, "firstname": c.firstname, "lastname": c.lastname}
        c.record_id = self._in_db(lambda conn: create_record(conn, "contact", fields))
        self.ledger.contacts.append(c)

    def _in_db(self, write: Callable[[psycopg.Connection[Any]], T]) -> T:
        """``write`` in a new session, again while PostgreSQL is down (as the platform would)."""
        deadline = time.monotonic() + 60
        while True:
            try:
                with self.env.connect() as conn:
                    return write(conn)
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)

    def platform_edit(self) -> None:
        """A platform-side edit of a record's last name (of either origin, once it is in PostgreSQL)."""
        candidates = [
            c for c in self.ledger.contacts if c.merged_into is None and c.values_known and not c.refused
        ]
        if not candidates:
            return
        c = self.rng.choice(candidates)
        lastname = self._name("Pe")

        def edit(conn: psycopg.Connection[Any]) -> bool:
            record_id = c.record_id
            if record_id is None:
                row = conn.execute(
                    "SELECT id FROM hubsync.contacts WHERE hubspot_id = %s", (c.hubspot_id,)
                ).fetchone()
                if row is None:  # not ingested yet
                    return False
                record_id = int(str(row[0]))
            update_record(conn, record_id, {"lastname": lastname})
            return True

        if self._in_db(edit):
            c.lastname = lastname

    def manual_pull(self) -> None:
        """``hubsync pull contacts --id ...`` of a few contacts, as an operator would (events with
        source MANUAL_PULL, applied like any other); it runs in the background, the wave goes on."""
        known = [c.hubspot_id for c in self.ledger.contacts if c.hubspot_id]
        if not known:
            return
        ids = self.rng.sample(known, min(3, len(known)))
        args = [
            sys.executable,
            "-m",
            "hubsync",
            "pull",
            "contacts",
            *(a for i in ids for a in ("--id", str(i))),
        ]
        env = child_env(self.env.components["poller"].env)
        self.pulls.append(
            subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )

    def wait_for_pulls(self, timeout_s: float = 60.0) -> list[int | None]:
        """The exit codes of the pulls started so far (None: still running after the timeout)."""
        codes: list[int | None] = []
        for pull in self.pulls:
            try:
                codes.append(pull.wait(timeout=timeout_s))
            except subprocess.TimeoutExpired:
                pull.kill()
                codes.append(None)
        self.pulls.clear()
        return codes

    def wave(self) -> None:
        """One round of changes on both sides."""
        steps = [self.hubspot_create, self.hubspot_create, self.hubspot_edit, self.platform_create]
        steps += [self.platform_create, self.platform_edit, self.hubspot_edit]
        if self.rng.random() < 0.5:
            steps.append(self.hubspot_merge)
        if self.rng.random() < 0.3:
            steps.append(lambda: self.platform_create(refused=True))
        if self.rng.random() < 0.25:
            steps.append(self.manual_pull)
        self.rng.shuffle(steps)
        for step in steps:
            step()


# --- the oracle ---------------------------------------------------------------------------------


class CrmFollower:
    """The latest ``crm.contacts`` message of every record (read on, from the beginning)."""

    def __init__(self, env: FaultEnvironment) -> None:
        self.topic = env.settings.topics.crm_contacts
        self.codec = SingleObjectCodec(SchemaRepository())
        self.schema = self.codec.repository.current("crm_contact")
        self.latest: dict[int, dict[str, Any]] = {}
        self.consumer = Consumer(
            {
                "bootstrap.servers": env.bootstrap,
                "group.id": f"faults-oracle-{uuid.uuid4().hex}",
                "enable.auto.commit": False,
            }
        )
        partitions = env.settings.topic_partitions
        self.consumer.assign([TopicPartition(self.topic, p, OFFSET_BEGINNING) for p in range(partitions)])

    def read(self) -> None:
        while True:
            messages = self.consumer.consume(1000, timeout=0.5)
            if not messages:
                return
            for message in messages:
                if message.error() or message.value() is None:
                    continue
                value = message.value()
                assert isinstance(value, bytes)
                record = self.codec.decode(self.topic, self.schema, value, plain=True)
                self.latest[int(record["record_id"])] = record

    def close(self) -> None:
        self.consumer.close()


def hubspot_contacts(api: httpx.Client) -> list[dict[str, Any]]:
    """Every live contact in the sandbox, with the properties the oracle compares."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        params = {"limit": "100", "properties": "email,firstname,lastname"}
        if after:
            params["after"] = after
        answer = api.get("/crm/v3/objects/contacts", params=params)
        for _ in range(60):  # the oracle shares HubSpot's limits and faults with the processes
            if answer.status_code not in (429, 500, 502, 503, 504):
                break
            time.sleep(0.5)
            answer = api.get("/crm/v3/objects/contacts", params=params)
        answer.raise_for_status()
        body = answer.json()
        out += body["results"]
        after = body.get("paging", {}).get("next", {}).get("after")
        if not after:
            return out


_PG = """
SELECT id, hubspot_id, email, first_name, last_name, crm_status
  FROM hubsync.contacts WHERE deleted_at IS NULL
"""


def check(env: FaultEnvironment, ledger: Ledger, crm: CrmFollower) -> list[Problem]:
    """Every difference between the ledger and HubSpot, PostgreSQL and ``crm.contacts``."""
    problems: list[Problem] = []
    with env.api as api:
        hs = hubspot_contacts(api)
    hs_by_email: dict[str, list[dict[str, Any]]] = {}
    for record in hs:
        email = (record["properties"].get("email") or "").lower()
        hs_by_email.setdefault(email, []).append(record)
    with env.connect() as conn:
        rows = conn.execute(_PG).fetchall()
        open_errors = {
            int(str(r[0]))
            for r in conn.execute(
                "SELECT record_id FROM hubsync.push_errors WHERE status = 'open'"
            ).fetchall()
        }
    by_hubspot: dict[str, list[tuple[Any, ...]]] = {}
    by_id: dict[int, tuple[Any, ...]] = {}
    live_by_email: Counter[str] = Counter()
    for row in rows:
        by_id[int(row[0])] = row
        if row[1] is not None:
            by_hubspot.setdefault(str(row[1]), []).append(row)
        if row[2] and row[5] not in ("merged_in_crm", "merged_in_platform"):
            live_by_email[str(row[2]).lower()] += 1

    def add(kind: str, detail: str) -> None:
        problems.append(Problem(kind, detail))

    for c in ledger.contacts:
        if c.merged_into is not None:
            merged = by_hubspot.get(str(c.hubspot_id), [])
            if not merged or merged[0][5] != "merged_in_crm":
                add("lost", f"{c.email}: the merge into {c.merged_into} not applied ({merged})")
            continue
        if c.refused:
            if hs_by_email.get(c.email):
                add("error_log", f"{c.email}: a value HubSpot refuses is in HubSpot")
            if by_id.get(int(c.record_id or 0)) is None:
                add("lost", f"{c.email}: refused platform record {c.record_id} missing")
            elif c.record_id not in open_errors:
                add("error_log", f"{c.email}: no open error-log row for record {c.record_id}")
            continue
        in_hubspot = hs_by_email.get(c.email, [])
        if not in_hubspot:
            add("lost", f"{c.email}: not in HubSpot")
            continue
        if len(in_hubspot) > 1:
            add("duplicated", f"{c.email}: {len(in_hubspot)} HubSpot records")
        hubspot = in_hubspot[0]
        if c.origin == "hubspot":
            mirrored = by_hubspot.get(str(c.hubspot_id), [])
        else:
            own = by_id.get(int(c.record_id or 0))
            mirrored = [own] if own is not None else []
            if own is not None and str(own[1]) != str(hubspot["id"]):
                add(
                    "lost", f"{c.email}: record {c.record_id} linked to {own[1]}, HubSpot has {hubspot['id']}"
                )
        if not mirrored:
            add("lost", f"{c.email}: not in PostgreSQL")
            continue
        if len(mirrored) > 1:
            add("duplicated", f"{c.email}: {len(mirrored)} platform records for HubSpot id {c.hubspot_id}")
        if live_by_email[c.email] > 1:
            add("duplicated", f"{c.email}: {live_by_email[c.email]} platform records with this address")
        row = mirrored[0]
        props = hubspot["properties"]
        want = (
            (c.firstname, c.lastname) if c.values_known else (props.get("firstname"), props.get("lastname"))
        )
        if (props.get("firstname"), props.get("lastname")) != want:
            add(
                "regressed",
                f"{c.email}: HubSpot has {props.get('firstname')} {props.get('lastname')}, want {want}",
            )
        if (row[3], row[4]) != want:
            add("regressed", f"{c.email}: PostgreSQL has {row[3]} {row[4]}, want {want}")
    crm.read()
    for row in rows:
        latest = crm.latest.get(int(row[0]))
        got = (
            None
            if latest is None
            else (
                latest["hubspot_id"],
                latest["email"],
                latest["first_name"],
                latest["last_name"],
                str(latest["crm_status"]).lower(),
            )
        )
        want_crm = (None if row[1] is None else str(row[1]), row[2], row[3], row[4], row[5])
        if got != want_crm:
            add("crm_topic", f"record {row[0]}: crm.contacts has {got}, PostgreSQL {want_crm}")
    return problems


def tally(problems: Iterable[Problem]) -> dict[str, int]:
    counts = dict.fromkeys(PROBLEM_KINDS, 0)
    for p in problems:
        counts[p.kind] += 1
    return counts
