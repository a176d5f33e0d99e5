"""The record model: the platform's record kinds and their tables, and a mirrored record's state
(its properties with their versions, creation source and CRM status).

At the bottom of the stack, next to HubSpot's model: ingest, push, platform writes, matching
and the field mapping all speak of records in these terms.
"""
