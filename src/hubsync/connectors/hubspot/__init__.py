"""HubSpot-side pieces of hubsync: request signatures, the API client, the webhook receiver
and the poller."""

from hubsync.connectors.hubspot.http.batch import BatchFailure, BatchOutcome, BatchSuccess
from hubsync.connectors.hubspot.http.classify import Classification, Outcome, classify
from hubsync.connectors.hubspot.http.client import HubSpotClient, Page, parse_page
from hubsync.connectors.hubspot.http.config import HubSpotClientConfig, RetryPolicy
from hubsync.connectors.hubspot.http.errors import (
    DailyLimitExhausted,
    HubSpotAuthError,
    HubSpotErrorDetails,
    HubSpotFatalError,
    HubSpotRecordError,
    HubSpotRetriesExhaustedError,
)
from hubsync.connectors.hubspot.http.ratelimit import Lane
from hubsync.hubspot_model.objects import HubSpotObjectType
from hubsync.hubspot_model.signatures import (
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
    "HubSpotObjectType",
    "HubSpotRecordError",
    "HubSpotRetriesExhaustedError",
    "Lane",
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
