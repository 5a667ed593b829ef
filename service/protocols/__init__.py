"""Other model servers' protocols, served from the same data plane as the service's own API."""

from __future__ import annotations

import json

from flask import Response

from service.errors import ServiceError, protocol_status


def bare_error_response(error: ServiceError) -> Response:
    """Returns the error as both the Open Inference Protocol and TF Serving send one:
    `{"error": "<message>"}`, with 400 for any bad request."""
    response = Response(json.dumps({"error": error.message}), status=protocol_status(error),
                        mimetype="application/json")
    response.headers.update(error.headers)
    return response
