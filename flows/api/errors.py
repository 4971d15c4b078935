"""Refusals the API answers with: one ``errors`` shape, the status codes each route declares in its schema."""

from __future__ import annotations

from typing import Any

from fastapi.responses import JSONResponse

from flows.api.schemas import ErrorBody

TITLES = {400: "Bad request", 401: "Unauthorized", 404: "Not found", 405: "Method not allowed",
          409: "Conflict", 413: "Request too large", 422: "Invalid request", 502: "Bad gateway", 503: "Unavailable"}
REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorBody, "description": "Missing or wrong bearer key."},
    413: {"model": ErrorBody, "description": "Request body over the limit."},
    503: {"model": ErrorBody, "description": "The job queue (Prefect) or the storage did not answer; retry later."},
}
BODY_REFUSALS: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorBody, "description": "The body is not JSON text (FastAPI could not parse it)."},
    422: {"description": "The body does not fit the schema: FastAPI's `detail[]`."},
}
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": ErrorBody, "description": "No such task (or cluster)."}}


class ApiError(Exception):
    """A refusal with its status code and a message safe to show (it never echoes secrets)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def error_response(status: int, detail: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The ``errors`` body every refusal uses."""
    body = {"errors": [{"code": str(status), "title": TITLES.get(status, "Error"), "detail": detail}]}
    extra = {"WWW-Authenticate": "Bearer"} if status == 401 else {"Retry-After": "5"} if status == 503 else {}
    return JSONResponse(body, status_code=status, headers={**(headers or {}), **extra})


