"""Platform-side writes, standing in for the platform application (SPEC section 3): create,
update, delete, merge and enrich records, request manual pushes, change the sync settings.

Every write runs in one transaction with its outbox row (:mod:`hubsync.storage.outbox`), its
activity rows and the potential duplicates its keys match.
"""

from hubsync.platform.actions import enrich_record, merge_records, request_push
from hubsync.platform.errors import (
    InvalidField,
    InvalidFieldValue,
    InvalidMerge,
    InvalidSetting,
    NoEnrichmentValue,
    PlatformWriteError,
    RecordNotFound,
    RecordNotWritable,
)
from hubsync.platform.records import WriteResult, create_record, delete_record, update_record
from hubsync.platform.settings import PlatformSettings, get_settings, set_setting
from hubsync.platform.views import activity, find_records, record_view

__all__ = [
    "InvalidField",
    "InvalidFieldValue",
    "InvalidMerge",
    "InvalidSetting",
    "NoEnrichmentValue",
    "PlatformSettings",
    "PlatformWriteError",
    "RecordNotFound",
    "RecordNotWritable",
    "WriteResult",
    "activity",
    "create_record",
    "delete_record",
    "enrich_record",
    "find_records",
    "get_settings",
    "merge_records",
    "record_view",
    "request_push",
    "set_setting",
    "update_record",
]
