"""HubSpot-side pieces of hubsync: request signatures now, the webhook receiver and poller later."""

from hubsync.connectors.hubspot.signatures import (
    SignatureCheck,
    SignatureFailure,
    decode_v3_uri,
    sign_v1,
    sign_v2,
    sign_v3,
    verify_v3,
)

__all__ = [
    "SignatureCheck",
    "SignatureFailure",
    "decode_v3_uri",
    "sign_v1",
    "sign_v2",
    "sign_v3",
    "verify_v3",
]
