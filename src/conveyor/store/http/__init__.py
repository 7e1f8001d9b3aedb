"""The metadata and artifact stores of a conveyor team server, spoken to over its REST API.

``_routes`` maps every metadata store method to one HTTP route (the server builds its API from
the same table); ``_codec`` turns the store's records into JSON and back; ``_client`` is the
adapter an SDK or CLI uses when ``CONVEYOR_TRACKING_URI`` names a server.
"""

from __future__ import annotations

from conveyor.store.http._client import HttpMetadataStore, ServerSession
from conveyor.store.http._codec import decode, encode, from_json, to_json
from conveyor.store.http._routes import ROUTES, Route

__all__ = [
    "ROUTES",
    "HttpMetadataStore",
    "Route",
    "ServerSession",
    "decode",
    "encode",
    "from_json",
    "to_json",
]
