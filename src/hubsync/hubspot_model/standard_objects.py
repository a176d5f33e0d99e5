"""HubSpot's other standard CRM objects (deals, tickets, line items, products, quotes and the
engagements) with a representative subset of their default property definitions.

hubsync syncs contacts and companies only; these exist so that HubSpot clients which read every
standard object's definitions at start-up (many do) find them as on a fresh portal.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hubsync.hubspot_model.properties import Option, Property, PropertyType


@dataclass(frozen=True, slots=True)
class StandardObject:
    """One standard object type: its path name, singular name, type id and default properties."""

    name: str
    singular: str
    type_id: str
    properties: tuple[Property, ...]

    @property
    def groups(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(p.group_name for p in self.properties))


_CALC: dict[str, Any] = {"read_only": True, "calculated": True}


def _p(
    name: str, label: str, group: str, type_: PropertyType = "string", field: str = "text", **kw: Any
) -> Property:
    options = tuple(
        Option(label=label_, value=value, display_order=i)
        for i, (value, label_) in enumerate(kw.pop("options", ()))
    )
    return Property(
        name=name, label=label, type=type_, field_type=field, group_name=group, options=options, **kw
    )


def _enum(name: str, label: str, group: str, *values: str) -> Property:
    pairs = [(v, v.replace("_", " ").title()) for v in values]
    return _p(name, label, group, "enumeration", "select", options=pairs)


def _common(group: str, *, created: str = "createdate", owner: bool = True) -> list[Property]:
    common = [
        _p("hs_object_id", "Record ID", group, "number", "number", **_CALC),
        _p(created, "Create Date", group, "datetime", "date", **_CALC),
        _p("hs_lastmodifieddate", "Last Modified Date", group, "datetime", "date", **_CALC),
    ]
    if owner:
        common.append(_p("hubspot_owner_id", "Owner", group, "enumeration", "select", external_options=True))
    return common


def _engagement(group: str, *specific: Property) -> tuple[Property, ...]:
    return (
        *_common(group, created="hs_createdate"),
        _p("hs_timestamp", "Activity date", group, "datetime", "date"),
        *specific,
    )


STANDARD_OBJECTS: tuple[StandardObject, ...] = (
    StandardObject(
        "deals",
        "deal",
        "0-3",
        (
            *_common("dealinformation"),
            _p("dealname", "Deal Name", "dealinformation"),
            _p("amount", "Amount", "dealinformation", "number", "number"),
            _p("closedate", "Close Date", "dealinformation", "datetime", "date"),
            _enum("pipeline", "Pipeline", "dealinformation", "default"),
            _enum(
                "dealstage",
                "Deal Stage",
                "dealinformation",
                "appointmentscheduled",
                "qualifiedtobuy",
                "presentationscheduled",
                "decisionmakerboughtin",
                "contractsent",
                "closedwon",
                "closedlost",
            ),
            _enum("dealtype", "Deal Type", "dealinformation", "newbusiness", "existingbusiness"),
            _p("description", "Deal Description", "dealinformation", field="textarea"),
        ),
    ),
    StandardObject(
        "tickets",
        "ticket",
        "0-5",
        (
            *_common("ticketinformation"),
            _p("subject", "Ticket name", "ticketinformation"),
            _p("content", "Ticket description", "ticketinformation", field="textarea"),
            _enum("hs_pipeline", "Pipeline", "ticketinformation", "0"),
            _enum("hs_pipeline_stage", "Ticket status", "ticketinformation", "1", "2", "3", "4"),
            _enum("hs_ticket_priority", "Priority", "ticketinformation", "LOW", "MEDIUM", "HIGH", "URGENT"),
            _enum(
                "hs_ticket_category",
                "Category",
                "ticketinformation",
                "PRODUCT_ISSUE",
                "BILLING_ISSUE",
                "FEATURE_REQUEST",
                "GENERAL_INQUIRY",
            ),
        ),
    ),
    StandardObject(
        "line_items",
        "line_item",
        "0-8",
        (
            *_common("lineiteminformation", owner=False),
            _p("name", "Name", "lineiteminformation"),
            _p("quantity", "Quantity", "lineiteminformation", "number", "number"),
            _p("price", "Unit price", "lineiteminformation", "number", "number"),
            _p("amount", "Net price", "lineiteminformation", "number", "number", **_CALC),
            _p("hs_product_id", "Product ID", "lineiteminformation", "number", "number"),
            _p("hs_sku", "SKU", "lineiteminformation"),
            _p("description", "Description", "lineiteminformation", field="textarea"),
        ),
    ),
    StandardObject(
        "products",
        "product",
        "0-7",
        (
            *_common("productinformation", owner=False),
            _p("name", "Name", "productinformation"),
            _p("price", "Unit price", "productinformation", "number", "number"),
            _p("hs_sku", "SKU", "productinformation"),
            _p("hs_cost_of_goods_sold", "Unit cost", "productinformation", "number", "number"),
            _p("description", "Description", "productinformation", field="textarea"),
        ),
    ),
    StandardObject(
        "quotes",
        "quote",
        "0-14",
        (
            *_common("quoteinformation", created="hs_createdate"),
            _p("hs_title", "Quote name", "quoteinformation"),
            _p("hs_expiration_date", "Expiration date", "quoteinformation", "datetime", "date"),
            _enum(
                "hs_status",
                "Quote approval status",
                "quoteinformation",
                "DRAFT",
                "APPROVAL_NOT_NEEDED",
                "PENDING_APPROVAL",
                "APPROVED",
                "REJECTED",
            ),
            _p("hs_currency", "Currency", "quoteinformation"),
            _p("hs_language", "Language", "quoteinformation"),
        ),
    ),
    StandardObject(
        "calls",
        "call",
        "0-48",
        _engagement(
            "call",
            _p("hs_call_title", "Call Title", "call"),
            _p("hs_call_body", "Call notes", "call", field="html"),
            _p("hs_call_duration", "Call duration", "call", "number", "number"),
            _enum("hs_call_direction", "Call direction", "call", "INBOUND", "OUTBOUND"),
            _enum(
                "hs_call_status",
                "Call status",
                "call",
                "BUSY",
                "COMPLETED",
                "FAILED",
                "NO_ANSWER",
                "CANCELED",
            ),
        ),
    ),
    StandardObject(
        "emails",
        "email",
        "0-49",
        _engagement(
            "email",
            _p("hs_email_subject", "Email subject", "email"),
            _p("hs_email_text", "Email text", "email", field="textarea"),
            _enum(
                "hs_email_direction", "Email direction", "email", "EMAIL", "INCOMING_EMAIL", "FORWARDED_EMAIL"
            ),
            _enum(
                "hs_email_status",
                "Email send status",
                "email",
                "BOUNCED",
                "FAILED",
                "SCHEDULED",
                "SENDING",
                "SENT",
            ),
        ),
    ),
    StandardObject(
        "meetings",
        "meeting",
        "0-47",
        _engagement(
            "meeting",
            _p("hs_meeting_title", "Meeting name", "meeting"),
            _p("hs_meeting_body", "Meeting description", "meeting", field="html"),
            _p("hs_meeting_start_time", "Start time", "meeting", "datetime", "date"),
            _p("hs_meeting_end_time", "End time", "meeting", "datetime", "date"),
            _p("hs_meeting_location", "Location", "meeting"),
            _enum(
                "hs_meeting_outcome",
                "Outcome",
                "meeting",
                "SCHEDULED",
                "COMPLETED",
                "RESCHEDULED",
                "NO_SHOW",
                "CANCELED",
            ),
        ),
    ),
    StandardObject(
        "notes",
        "note",
        "0-46",
        _engagement(
            "note",
            _p("hs_note_body", "Note body", "note", field="html"),
            _p("hs_attachment_ids", "Attachment IDs", "note"),
        ),
    ),
    StandardObject(
        "tasks",
        "task",
        "0-27",
        _engagement(
            "task",
            _p("hs_task_subject", "Task title", "task"),
            _p("hs_task_body", "Task notes", "task", field="html"),
            _enum(
                "hs_task_status",
                "Task status",
                "task",
                "NOT_STARTED",
                "IN_PROGRESS",
                "WAITING",
                "COMPLETED",
                "DEFERRED",
            ),
            _enum("hs_task_priority", "Priority", "task", "NONE", "LOW", "MEDIUM", "HIGH"),
            # "TODO" is one of HubSpot's own hs_task_type options (a to-do task), not a marker
            _enum("hs_task_type", "Task type", "task", "EMAIL", "CALL", "TODO"),
        ),
    ),
)

#: every name a path may use for one of them: plural, singular and type id
STANDARD_OBJECT_NAMES: Mapping[str, StandardObject] = {
    alias: obj for obj in STANDARD_OBJECTS for alias in (obj.name, obj.singular, obj.type_id)
}
