"""HubSpot's own model, in one place: object types and their names, default property
definitions, error categories, rate-limit policies and limits, and request signatures.

Pure data and pure functions, no I/O. The HubSpot client, the field mapping and the sandbox all
read HubSpot's rules from here, so a rule is written once and the test double cannot drift from
what production assumes.
"""
