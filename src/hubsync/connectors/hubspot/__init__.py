"""HubSpot-side pieces of hubsync: request signatures, the API client, the webhook receiver
and the poller."""

from hubsync.connectors.hubspot.api_errors import (
    DailyLimitExhausted,
    HubSpotAuthError,
    HubSpotErrorDetails,
    HubSpotFatalError,
    HubSpotRecordError,
    HubSpotRetriesExhaustedError,
)
from hubsync.connectors.hubspot.batch import BatchFailure, BatchOutcome, BatchSuccess
from hubsync.connectors.hubspot.classify import Classification, Outcome, classify
from hubsync.connectors.hubspot.client import HubSpotClient, ObjectType, Page, parse_page
from hubsync.connectors.hubspot.client_config import HubSpotClientConfig, RetryPolicy
from hubsync.connectors.hubspot.ratelimit import Lane
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
    "BatchFailure",
    "BatchOutcome",
    "BatchSuccess",
    "Classification",
    "DailyLimitExhausted",
    "HubSpotAuthError",
    "HubSpotClient",
    "HubSpotClientConfig",
    "HubSpotErrorDetails",
    "HubSpotFatalError",
    "HubSpotRecordError",
    "HubSpotRetriesExhaustedError",
    "Lane",
    "ObjectType",
    "Outcome",
    "Page",
    "RetryPolicy",
    "SignatureCheck",
    "SignatureFailure",
    "classify",
    "decode_v3_uri",
    "parse_page",
    "sign_v1",
    "sign_v2",
    "sign_v3",
    "verify_v3",
]
