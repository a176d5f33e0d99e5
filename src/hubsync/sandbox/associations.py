"""Contact <-> company associations with HubSpot's default association types, and the unlabeled
associations between two records of one type (contact <-> contact 449, company <-> company 450).

Types (``associationTypeId``, HUBSPOT_DEFINED): contact -> company 279 (unlabeled) and 1 (primary);
company -> contact 280 (unlabeled) and 2 (primary). Every labeled association also has the
unlabeled type, and a contact has at most one primary company.
"""

from __future__ import annotations

from hubsync.hubspot_model.objects import HubSpotObjectName

UNLABELED = 1
PRIMARY = 2

CONTACT_TO_COMPANY: dict[int, int] = {UNLABELED: 279, PRIMARY: 1}
COMPANY_TO_CONTACT: dict[int, int] = {UNLABELED: 280, PRIMARY: 2}
TYPE_LABELS: dict[int, str | None] = {279: None, 280: None, 1: "Primary", 2: "Primary"}


def type_ids(from_type: HubSpotObjectName, flags: int) -> list[int]:
    """The association type ids of ``flags`` as seen from ``from_type``, unlabeled first."""
    table = CONTACT_TO_COMPANY if from_type == "contact" else COMPANY_TO_CONTACT
    return [table[f] for f in (UNLABELED, PRIMARY) if flags & f]


def flags_for(from_type: HubSpotObjectName, type_id: object) -> int | None:
    """The flag of a type id given from ``from_type``'s side, or None when it is not one of ours
    (or not an integer at all: JSON ``true`` is no type id, although Python's bool is an int)."""
    if isinstance(type_id, bool) or not isinstance(type_id, int):
        return None
    table = CONTACT_TO_COMPANY if from_type == "contact" else COMPANY_TO_CONTACT
    for flag, tid in table.items():
        if tid == type_id:
            return flag
    return None


class Links:
    """Both directions of the contact-company association, with type flags per pair."""

    def __init__(self) -> None:
        self.by_contact: dict[int, dict[int, int]] = {}
        self.by_company: dict[int, dict[int, int]] = {}

    def flags(self, contact_id: int, company_id: int) -> int:
        return self.by_contact.get(contact_id, {}).get(company_id, 0)

    def set(self, contact_id: int, company_id: int, flags: int) -> None:
        if flags:
            self.by_contact.setdefault(contact_id, {})[company_id] = flags
            self.by_company.setdefault(company_id, {})[contact_id] = flags
            return
        for side, a, b in (
            (self.by_contact, contact_id, company_id),
            (self.by_company, company_id, contact_id),
        ):
            peers = side.get(a)
            if peers is not None:
                peers.pop(b, None)
                if not peers:
                    del side[a]

    def peers(self, object_type: HubSpotObjectName, object_id: int) -> dict[int, int]:
        side = self.by_contact if object_type == "contact" else self.by_company
        return side.get(object_id, {})

    def drop(self, object_type: HubSpotObjectName, object_id: int) -> dict[int, int]:
        """Remove every association of a record; returns what it had (peer -> flags)."""
        peers = dict(self.peers(object_type, object_id))
        for peer in peers:
            if object_type == "contact":
                self.set(object_id, peer, 0)
            else:
                self.set(peer, object_id, 0)
        return peers

    def clear(self) -> None:
        self.by_contact.clear()
        self.by_company.clear()


#: HubSpot's default association type between two records of one type (the same both ways)
SAME_TYPE_IDS: dict[HubSpotObjectName, int] = {"contact": 449, "company": 450}


class PeerLinks:
    """Unlabeled associations between records of one object type: symmetric, no self-association."""

    def __init__(self) -> None:
        self.by_id: dict[int, set[int]] = {}

    def add(self, a: int, b: int) -> bool:
        """Associate ``a`` and ``b``; False when they already were."""
        if b in self.by_id.get(a, ()):
            return False
        self.by_id.setdefault(a, set()).add(b)
        self.by_id.setdefault(b, set()).add(a)
        return True

    def remove(self, a: int, b: int) -> bool:
        """Dissociate ``a`` and ``b``; False when they were not associated."""
        if b not in self.by_id.get(a, ()):
            return False
        for x, y in ((a, b), (b, a)):
            peers = self.by_id[x]
            peers.discard(y)
            if not peers:
                del self.by_id[x]
        return True

    def peers(self, object_id: int) -> set[int]:
        return set(self.by_id.get(object_id, ()))

    def drop(self, object_id: int) -> set[int]:
        """Remove every association of ``object_id``; returns its former peers."""
        peers = self.peers(object_id)
        for peer in peers:
            self.remove(object_id, peer)
        return peers

    def clear(self) -> None:
        self.by_id.clear()
