"""``POST /feedback``: the ground truth of earlier predictions, stored for monitoring.

Body: ``{"request_id": "...", "label": <value>}``, optionally with ``"model"``, or
``{"feedback": [{...}, ...]}`` with up to ``MAX_ITEMS`` such objects. Answer:
``{"accepted": n}``, once every label is in a Parquet file under
``<artifacts>/feedback/<model>/date=YYYY-MM-DD/`` (see ``_predlog_files``): labels are written
before answering rather than buffered, as a lost label cannot be predicted again. If the store
cannot be written the answer is 503 and the client should send the same body again; monitoring
keeps the latest label of a request id, so a label written twice does no harm.

A label is filed under the model the item names, else the model that answered the request id
(if this process still remembers it), else the only model this server serves, else
``_unknown``. Feedback is stored even when the prediction log is turned off.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Final

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from conveyor.data._predlog_files import FEEDBACK, UNKNOWN_MODEL
from conveyor.serving._body import json_object, read_json
from conveyor.serving._errors import ClientError, client_error_response, error_response
from conveyor.serving._models import ServedModel
from conveyor.serving._predlog import PredictionLog
from conveyor.serving._predlog_arrow import feedback_table
from conveyor.serving._respond import json_response
from conveyor.serving._rows import invalid, only_fields
from conveyor.serving._service import Service

log = logging.getLogger("conveyor.serving")

MAX_ITEMS: Final = 10_000
MAX_REQUEST_ID: Final = 128  # as long as a request id the server accepts (see ``_body``)
_FIELDS: Final = ("request_id", "label", "model")


@dataclass(frozen=True, slots=True)
class Feedback:
    request_id: str
    label: object
    model: str | None


async def feedback(request: Request) -> Response:
    service: Service = request.app.state.service
    try:
        body = json_object(
            await read_json(request, service.options.max_body_bytes),
            'with "request_id" and "label", or "feedback": a list of such objects',
        )
        items = parse(body, service.models)
    except ClientError as exc:
        return client_error_response(exc)
    plog = service.prediction_log
    only = next(iter(service.models)) if len(service.models) == 1 else None
    by_model: dict[str, list[Feedback]] = {}
    for item in items:
        model = item.model or plog.model_of(item.request_id) or only or UNKNOWN_MODEL
        by_model.setdefault(model, []).append(item)
    try:
        await asyncio.to_thread(store, plog, by_model, datetime.now(UTC))
    except Exception as exc:  # disk full, store unreachable: the client can send it again
        log.error("cannot store %d feedback labels in %s", len(items), plog.root, exc_info=exc)
        return error_response(
            503,
            "FeedbackNotStored",
            f"the feedback could not be stored ({type(exc).__name__}: {exc}); send it again",
        )
    return json_response({"accepted": len(items)})


def store(plog: PredictionLog, by_model: Mapping[str, list[Feedback]], now: datetime) -> None:
    """Writes one file per model, durably, before the request is answered."""
    folder = plog.folder()
    for model, items in by_model.items():
        table = feedback_table([i.request_id for i in items], [i.label for i in items], model, now)
        folder.write(FEEDBACK, model, now.date(), table)
        plog.feedback_rows.labels(model).inc(len(items))


def parse(body: dict[str, object], served: Mapping[str, ServedModel]) -> list[Feedback]:
    """The items of a body, or a ClientError naming the first field that is wrong."""
    if "feedback" not in body:
        return [_item(body, "", served)]
    extra = sorted(set(body) - {"feedback"})
    if extra:
        raise invalid(
            extra[0],
            f"unknown field(s) {', '.join(map(repr, extra))} next to 'feedback'; put "
            "request_id, label and model inside each item of 'feedback'",
        )
    items = body["feedback"]
    if not isinstance(items, list) or not items:
        raise invalid(
            "feedback", "'feedback' must be a non-empty list of objects with request_id and label"
        )
    if len(items) > MAX_ITEMS:
        raise invalid(
            "feedback",
            f"'feedback' has {len(items):,} items; send at most {MAX_ITEMS:,} per request",
            items=len(items),
            limit=MAX_ITEMS,
        )
    return [_item(item, f"feedback[{i}]", served) for i, item in enumerate(items)]


def _item(item: object, at: str, served: Mapping[str, ServedModel]) -> Feedback:
    prefix = f"{at}." if at else ""
    if not isinstance(item, dict):
        raise invalid(at, f"{at} must be an object with request_id and label")
    only_fields(item, _FIELDS, at)
    field = prefix + "request_id"
    if "request_id" not in item:
        raise invalid(field, f"{field} is missing: which prediction is this label for?")
    rid = item["request_id"]
    if not isinstance(rid, str) or not rid or len(rid) > MAX_REQUEST_ID:
        raise invalid(
            field,
            f"{field} must be the non-empty string (at most {MAX_REQUEST_ID} characters) a "
            f"prediction answered with, not {rid!r:.60}",
        )
    field = prefix + "label"
    if "label" not in item:
        raise invalid(field, f"{field} is missing: the true value for request {rid!r:.60}")
    label = item["label"]
    if label is None or isinstance(label, dict):
        raise invalid(
            field, f"{field} must be a number, string, boolean or list, not {label!r:.60}"
        )
    return Feedback(rid, label, _model(item.get("model"), prefix + "model", served))


def _model(model: object, field: str, served: Mapping[str, ServedModel]) -> str | None:
    if model is None:
        return None
    if not isinstance(model, str):
        raise invalid(field, f"{field} must be the name of a served model, not {model!r:.60}")
    if model not in served:
        raise ClientError(
            422,
            "ModelNotServed",
            f"{field}: no model {model!r:.60} is served here; served: {', '.join(served)}",
            field=field,
            models=list(served),
        )
    return model


ROUTES: list[Route] = [Route("/feedback", feedback, methods=["POST"])]
