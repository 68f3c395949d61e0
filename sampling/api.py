"""Partner API for sampling: create a request (partners' own forms), read its status, 3PL export/import.

Scopes: `samples:write` (create), `samples:read` (status), `samples:3pl`
(export approved shipments as CSV, import tracking). Errors use the shared
shape {code, message, fields}; `not_eligible` is a 409 with the reason.

Access (commerce.access, docs/access.md): a campaign's micro-form is shop catalogue (any key
with `samples:write` may submit to it); a request belongs to the partner whose key created
it (`samples:read`); shipments and tracking belong to the campaign's 3PL
(`SampleCampaign.fulfilment_partner`, `samples:3pl`). Another partner's request or campaign
answers like a missing one.
"""

from __future__ import annotations

import datetime as dt

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status
from pydantic import IPvAnyAddress

from commerce.access import (
    campaign_to_fulfil,
    catalogue,
    sample_request_for_partner,
    sample_request_is_callers,
    sample_requests_to_fulfil,
)
from config.api import PartnerKey, error
from config.bounds import Id

from .exceptions import SamplingError
from .models import SampleCampaign, SampleRequest
from .services.requests import Answer, sample_request_create, sample_request_set_address
from .services.shipping import TrackingFileError, shipments_export_csv, shipments_to_export, tracking_import

router = Router(tags=["sampling"])


class AddressIn(Schema):
    name: str
    street_address: str
    city: str = ""
    city_area: str = ""
    postal_code: str = ""
    country_area: str = ""
    country_code: str = Field(description="ISO 3166 alpha-2, e.g. DE.")


class SampleRequestIn(Schema):
    campaign: str = Field(description="The campaign's slug.")
    email: str
    use_case: str = Field(description="One of the campaign's use cases.")
    consent: bool = Field(description="The person agreed to be e-mailed about the sample.")
    ip: IPvAnyAddress | None = Field(
        None, description="The person's IPv4 or IPv6 address on your form (rate limits, vetting); 422 if not an address."
    )
    country: str | None = Field(None, description="The person's country from their IP, ISO alpha-2.")
    address: AddressIn | None = Field(None, description="Shipping address; runs the address step at once.")


class SampleRequestOut(Schema):
    id: int
    reference: str
    campaign: str = Field(alias="campaign.slug")
    email: str
    use_case: str
    status: str = Field(
        description="waitlisted | requested | review | approved | shipped | delivered | rejected | cancelled"
    )
    priority_score: int
    risk_score: int
    carrier: str
    tracking_number: str
    created_at: dt.datetime
    approved_at: dt.datetime | None
    shipped_at: dt.datetime | None
    delivered_at: dt.datetime | None

    @staticmethod
    def resolve_reference(obj: SampleRequest) -> str:
        return obj.token[:12]


class SampleAnswerOut(Schema):
    answer: str = Field(description="accepted | waitlisted | already_requested")
    message: str
    request: SampleRequestOut | None = Field(
        description="The request; null when the person already had one that the caller did not create "
        "(another partner's or the shop's: it is never shown to someone who merely typed the address)."
    )


@router.post(
    "/samples/requests", response={200: SampleAnswerOut, 201: SampleAnswerOut}, auth=PartnerKey("samples:write")
)
def create_sample_request(request, payload: SampleRequestIn):
    """Request a sample for a person. 201 when created (accepted or waitlisted), 200 when they already had one
    (or the `Idempotency-Key` was seen): `request` is then null unless the caller created that request.
    409 `not_eligible` with the reason, 422 invalid input, 429 rate limited, 404 unknown campaign."""
    campaign = get_object_or_404(catalogue(SampleCampaign.objects.all()), slug=payload.campaign)
    outcome = sample_request_create(
        campaign_id=campaign.pk,
        email=payload.email,
        use_case=payload.use_case,
        consent=payload.consent,
        ip=str(payload.ip) if payload.ip is not None else None,
        geo_country=payload.country or "",
        source="api",
        partner=request.caller.partner,
        idempotency_key=request.headers.get("Idempotency-Key", "")[:120],
    )
    if outcome.answer == Answer.NOT_ELIGIBLE:
        return error(request, status=409, code="not_eligible", message=outcome.reason)
    req = outcome.request
    if payload.address is not None and outcome.created and req.status == SampleRequest.Status.REQUESTED:
        try:
            req = sample_request_set_address(
                token=req.token, address=payload.address.dict(), actor_label=request.caller.label
            )
        except SamplingError as exc:
            return error(
                request,
                status=exc.status,
                code=str(exc.code),
                message=exc.message,
                fields=exc.extra.get("fields") or {},
            )
    message = outcome.reason or ("A sample is reserved." if outcome.answer == Answer.ACCEPTED else "On the waitlist.")
    if not sample_request_is_callers(caller=request.caller, request_id=req.pk):
        req = None  # someone else's request: say it exists (the person is told by e-mail), show nothing of it
    return Status(201 if outcome.created else 200, {"answer": str(outcome.answer), "message": message, "request": req})


@router.get("/samples/requests/{request_id}", response=SampleRequestOut, auth=PartnerKey("samples:read"))
def get_sample_request(request, request_id: Id):
    """A sample request the caller created: status and tracking. 404 `not_found` if unknown or not theirs."""
    return sample_request_for_partner(caller=request.caller, request_id=request_id)


@router.get("/samples/shipments.csv", auth=PartnerKey("samples:3pl"))
def export_shipments(request, campaign: str | None = None):
    """Approved requests ready to ship of the campaigns the caller fulfils (its 3PL), as the 3PL CSV (columns in
    the README). Filter `?campaign=<slug>`: 404 `not_found` if unknown or fulfilled by someone else."""
    campaign_id = campaign_to_fulfil(caller=request.caller, slug=campaign).pk if campaign else None
    mine = sample_requests_to_fulfil(caller=request.caller).values("pk")
    rows = shipments_to_export(campaign_id=campaign_id).filter(pk__in=mine)
    response = HttpResponse(shipments_export_csv(requests=rows), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = 'attachment; filename="sample-shipments.csv"'
    return response


@router.post("/samples/tracking", auth=PartnerKey("samples:3pl"))
def import_tracking(request):
    """Import tracking numbers: send the CSV as the request body (Content-Type: text/csv).

    All-or-nothing: 200 with the per-row report when applied, 422 `invalid_rows`
    with `fields` {"row N": ["column 'X': problem"]} when any row is bad (nothing changed).
    Only requests of the campaigns the caller fulfils can be named; any other is reported
    exactly like an unknown request.
    """
    try:
        report = tracking_import(
            data=request.body,
            actor_label=request.caller.label,
            requests=sample_requests_to_fulfil(caller=request.caller),
        )
    except TrackingFileError as exc:
        return error(request, status=422, code="invalid_file", message=str(exc))
    if not report.ok:
        fields: dict[str, list[str]] = {}
        for e in report.errors:
            fields.setdefault(f"row {e.row}", []).append(f"column {e.column!r}: {e.message}")
        return error(
            request,
            status=422,
            code="invalid_rows",
            message=f"{len(report.errors)} problem(s) in {report.rows} rows; nothing was changed.",
            fields=fields,
        )
    return report.as_dict()
