"""The JSON the service reads and writes, as pydantic models (they also make the OpenAPI schema
at ``/docs``). Request models forbid unknown fields, so a misspelt field is a 422, not ignored."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["EntityOut", "ErrorOut", "ExtractRequest", "ExtractResponse", "HealthOut", "ModelOut"]


class ExtractRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"texts": ["Apple hired Tim Cook in Cupertino."], "labels": ["company", "person", "city"]},
    ]})

    texts: list[str] = Field(description="The texts to label; offsets in the answer index them.")
    labels: list[str] | None = Field(
        default=None,
        description="Entity types to find; default: the model's own (GET /v1/model). A model "
        "with a fixed label set (open_labels false) accepts only a subset of its labels.",
    )


class EntityOut(BaseModel):
    start: int = Field(description="Offset of the first character in the text.")
    end: int = Field(description="Offset one past the last character: text[start:end].")
    label: str
    text: str = Field(description="The mention itself, text[start:end].")
    score: float | None = Field(default=None, description="Present when the model scores spans.")


class ExtractResponse(BaseModel):
    entities: list[list[EntityOut]] = Field(description="One list per input text, in input order.")
    labels: list[str] = Field(description="The labels that were looked for.")
    model: str = Field(description="The predictor kind serving the request.")
    took_ms: float = Field(description="Time spent on this request in the service, queueing included.")


class ModelOut(BaseModel):
    kind: str
    labels: list[str] = Field(description="The default labels of POST /v1/extract.")
    open_labels: bool = Field(description="True: any label may be asked for; False: a subset of labels.")
    settings: dict[str, Any] = Field(description="Everything that decides the predictions.")
    manifest: dict[str, Any] | None = Field(
        description="The model folder's fewner.json; null for a model loaded by name.")
    limits: dict[str, int | float] = Field(description="The service's limits and batching settings.")


class HealthOut(BaseModel):
    status: str
    model: str
    stats: dict[str, int] = Field(
        description="Counters since start: requests, texts, predictor_calls (fewer than requests "
        "when requests were batched), largest_call_requests, failed_calls, timeouts, ...")


class ErrorOut(BaseModel):
    detail: Any = Field(description="What went wrong (a message, or a list of field errors).")
    limit: str | None = Field(default=None, description="The setting that was exceeded, if any.")
    value: float | None = Field(default=None, description="That setting's value.")
    request_id: str | None = Field(default=None, description="For 500s: quote it to the operator.")
