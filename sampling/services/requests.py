"""Sample requests: the micro-form, the address step and the status flow (with an audit row per change).

Flow: waitlisted → requested (a sample is reserved) → review → approved →
shipped → delivered; or rejected / cancelled. Leaving a reserving status for
rejected/cancelled returns the sample and offers it to the waitlist (best
priority first, then first-come) in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from analytics.services import event_capture
from commerce.identity import clean_email, normalize_email
from commerce.services.outbox import outbox_enqueue
from commerce.services.webhooks import partner_event_emit

from .. import locks, targeting, vetting
from ..addresses import AddressInvalid, address_normalize, household_key
from ..audience import signals_for
from ..exceptions import ErrorCode, InvalidRequest, InvalidTransition, RateLimited, SamplingError
from ..models import SampleCampaign, SampleRequest, SampleRequestEvent
from ..ratelimit import rate_limit_hit, resend_allowed

S = SampleRequest.Status

ALLOWED = {
    S.WAITLISTED: {S.REQUESTED, S.CANCELLED, S.REJECTED},
    S.REQUESTED: {S.REVIEW, S.APPROVED, S.REJECTED, S.CANCELLED},
    S.REVIEW: {S.APPROVED, S.REJECTED, S.CANCELLED},
    S.APPROVED: {S.SHIPPED, S.REJECTED, S.CANCELLED},
    S.SHIPPED: {S.DELIVERED},
    S.DELIVERED: set(),
    S.REJECTED: set(),
    S.CANCELLED: set(),
}


class Answer(StrEnum):
    """The honest, immediate answer the micro-form and the API give."""

    ACCEPTED = "accepted"
    WAITLISTED = "waitlisted"
    ALREADY_REQUESTED = "already_requested"
    NOT_ELIGIBLE = "not_eligible"


@dataclass
class RequestOutcome:
    """`answer`, the request (None when not eligible), `reason` in plain words, `created` on first write."""

    answer: Answer
    request: SampleRequest | None = None
    reason: str = ""
    created: bool = False
    details: dict = field(default_factory=dict)


def _actor_label(actor, default: str) -> str:
    return f"staff:{actor.get_username()}" if actor is not None else default


def _queue_email(request_id: int, kind: str) -> None:
    """Write the requester's e-mail to the outbox, in the transaction of the status change (once per kind)."""
    outbox_enqueue(
        kind="sample_request_email",
        key=f"sample-email:{kind}:{request_id}",
        payload={"request_id": request_id, "kind": kind},
    )


def _log(req: SampleRequest, *, from_status: str, to_status: str, actor, actor_label: str, reason: str, now) -> None:
    SampleRequestEvent.objects.create(
        request=req,
        from_status=from_status,
        to_status=to_status,
        actor=actor,
        actor_label=actor_label,
        reason=reason,
        at=now,
    )


def _already_requested(req: SampleRequest) -> RequestOutcome:
    """The existing request: its private link goes again to the address on file (rate limited), never to the caller."""
    resent = resend_allowed(request_id=req.pk)
    if resent:
        with transaction.atomic():  # each allowed re-send is its own outbox row (the budget bounds them)
            outbox_enqueue(
                kind="sample_request_email",
                key=f"sample-email:link:{req.pk}:{uuid.uuid4().hex}",
                payload={"request_id": req.pk, "kind": "link"},
            )
    return RequestOutcome(
        Answer.ALREADY_REQUESTED, req, reason="You have already requested this sample.", details={"resent": resent}
    )


def _queue_not_eligible_email(*, campaign_id: int, email: str, reason: str) -> None:
    """Outbox row for the "not eligible" e-mail to the typed address (rate limited by the micro-form's limits)."""
    with transaction.atomic():
        outbox_enqueue(
            kind="sample_not_eligible_email",
            key=f"sample-not-eligible:{campaign_id}:{uuid.uuid4().hex}",
            payload={"campaign_id": campaign_id, "email": email, "reason": reason},
        )


def _answer_for(req: SampleRequest) -> Answer:
    return Answer.WAITLISTED if req.status == S.WAITLISTED else Answer.ACCEPTED


def sample_request_create(
    *,
    campaign_id: int,
    email: str,
    use_case: str,
    consent: bool,
    ip: str | None = None,
    geo_country: str = "",
    session_id: int | None = None,
    source: str = "form",
    partner=None,
    idempotency_key: str = "",
    rate_limit: bool = True,
    now: dt.datetime | None = None,
    visitor_id: str | None = None,
) -> RequestOutcome:
    """Answer a micro-form (or partner API) request for a sample.

    Returns a RequestOutcome: `accepted` (a sample is reserved: status
    requested, the address step comes next), `waitlisted` (none left, or the
    priority score is below the campaign's `accept_min_score`),
    `already_requested` (this normalized e-mail already has a request: it is
    returned, and its private link e-mailed again to the address on file, at most
    SAMPLING_RESEND_LIMIT times an hour, `details["resent"]`) or `not_eligible`
    (with the reason; `details["personal"]` when the reason is about the e-mail's
    owner — orders, sessions, clicks — and was e-mailed to that address). The
    outcome carries the request for the service's callers; a storefront answer must
    never show its link to whoever typed the address (sampling.views). The stock is taken with one
    conditional UPDATE and the request row is inserted under the UNIQUE
    (campaign, normalized e-mail) constraint in the same transaction: two
    requests racing for the last sample give exactly one `accepted`; one
    person racing themselves gets exactly one request.

    Raises InvalidRequest (invalid_email / invalid_use_case / consent_required),
    RateLimited, SampleCampaign.DoesNotExist.
    """
    now = now or timezone.now()
    campaign = SampleCampaign.objects.select_related("series").get(pk=campaign_id)
    try:
        typed = clean_email(email)
        key = normalize_email(email)
    except ValidationError as exc:
        raise InvalidRequest("Enter a valid email address.", code=ErrorCode.INVALID_EMAIL) from exc
    if use_case not in campaign.use_cases:
        raise InvalidRequest("Choose one of the listed uses.", code=ErrorCode.INVALID_USE_CASE)
    if not consent:
        raise InvalidRequest("Please agree that we may e-mail you about this sample.", code=ErrorCode.CONSENT_REQUIRED)
    if partner is not None and idempotency_key:
        replay = SampleRequest.objects.filter(partner=partner, idempotency_key=idempotency_key).first()
        if replay is not None:
            return RequestOutcome(_answer_for(replay), replay, details={"replay": True})
    if rate_limit:
        which = rate_limit_hit(ip=ip, email_normalized=key)
        if which:
            raise RateLimited(
                "Too many requests from this network. Please try again in a few minutes."
                if which == "ip"
                else "Too many requests for this e-mail address. Please try again later.",
                limit=which,
            )
    existing = SampleRequest.objects.filter(campaign=campaign, email_normalized=key).first()
    if existing is not None:
        return _already_requested(existing)
    if not campaign.is_open_at(now):
        reason = (
            "This sample campaign has not started yet."
            if campaign.is_active and now < campaign.opens_at
            else "This sample campaign has ended."
        )
        return RequestOutcome(Answer.NOT_ELIGIBLE, reason=reason)
    signals = signals_for(email_normalized=key, series_id=campaign.series_id)
    reason = targeting.input_ineligibility_reason(campaign=campaign, use_case=use_case, country=geo_country)
    if reason:
        return RequestOutcome(Answer.NOT_ELIGIBLE, reason=reason)
    reason = targeting.audience_ineligibility_reason(campaign=campaign, signals=signals)
    if reason:  # about the e-mail's owner: told to that mailbox only (details["personal"])
        _queue_not_eligible_email(campaign_id=campaign.pk, email=typed, reason=reason)
        return RequestOutcome(Answer.NOT_ELIGIBLE, reason=reason, details={"personal": True})
    score, score_reasons = targeting.priority_score(campaign=campaign, signals=signals, use_case=use_case)

    class _Duplicate(Exception):
        pass

    try:
        with transaction.atomic():
            taken = score >= campaign.accept_min_score and locks.campaign_take_sample(campaign_id=campaign.pk)
            status = S.REQUESTED if taken else S.WAITLISTED
            try:
                with transaction.atomic():
                    req = SampleRequest.objects.create(
                        campaign=campaign,
                        email=typed,
                        email_normalized=key,
                        use_case=use_case,
                        consent_at=now,
                        status=status,
                        session_id=session_id,
                        source=source,
                        partner=partner,
                        idempotency_key=idempotency_key if partner is not None else "",
                        ip=ip or None,
                        geo_country=(geo_country or "").upper()[:2],
                        priority_score=score,
                        priority_reasons=score_reasons,
                        created_at=now,
                        reserved_at=now if taken else None,
                    )
            except IntegrityError as exc:
                raise _Duplicate from exc  # leaves the outer block: the sample taken above goes back
            why = (
                "a sample was reserved"
                if taken
                else (
                    "no sample left" if score >= campaign.accept_min_score else "priority below the campaign's minimum"
                )
            )
            label = f"partner:{partner.name}" if partner is not None else "viewer"
            _log(req, from_status="", to_status=status, actor=None, actor_label=label, reason=why, now=now)
            _queue_email(req.pk, "accepted" if taken else "waitlisted")
    except _Duplicate:
        replay = None
        if partner is not None and idempotency_key:
            replay = SampleRequest.objects.filter(partner=partner, idempotency_key=idempotency_key).first()
        if replay is not None:
            return RequestOutcome(_answer_for(replay), replay, details={"replay": True})
        return _already_requested(SampleRequest.objects.get(campaign=campaign, email_normalized=key))
    event_capture(  # analytics funnel: "sample_request" (after commit; never raises)
        name="sample_request",
        visitor_id=visitor_id,
        session_id=session_id,
        occurred_at=now,
        props={"campaign_id": campaign_id, "answer": str(_answer_for(req))},
    )
    return RequestOutcome(_answer_for(req), req, created=True)


def _transition(
    req: SampleRequest, *, to: str, actor=None, actor_label: str, reason: str = "", now: dt.datetime, **fields
) -> SampleRequest:
    """Move a locked request to `to`, write the audit row, return stock if it stops reserving."""
    if to not in ALLOWED[S(req.status)]:
        raise InvalidTransition(
            f"A {req.get_status_display().lower()} request cannot become {S(to).label.lower()}.",
            status_from=req.status,
            status_to=to,
        )
    before = req.status
    req.status = to
    for name, value in fields.items():
        setattr(req, name, value)
    req.save(update_fields=["status", *fields])
    _log(req, from_status=before, to_status=to, actor=actor, actor_label=actor_label, reason=reason, now=now)
    if before in SampleRequest.RESERVING and to not in SampleRequest.RESERVING:
        locks.campaign_return_sample(campaign_id=req.campaign_id)
        waitlist_promote_next(campaign_id=req.campaign_id, now=now)
    return req


def _locked(request_id: int) -> SampleRequest:
    return SampleRequest.objects.select_for_update().select_related("campaign").get(pk=request_id)


def waitlist_promote_next(*, campaign_id: int, now: dt.datetime) -> SampleRequest | None:
    """Offer one free sample to the best waitlisted request (highest priority, then first-come).

    Returns the promoted request, or None when no sample or nobody is waiting.
    Runs in the caller's transaction (or its own).
    """
    with transaction.atomic():
        candidate = (
            SampleRequest.objects.select_for_update()
            .filter(campaign_id=campaign_id, status=S.WAITLISTED)
            .order_by("-priority_score", "created_at", "pk")
            .first()
        )
        if candidate is None or not locks.campaign_take_sample(campaign_id=campaign_id):
            return None
        _transition(
            candidate, to=S.REQUESTED, actor_label="system", reason="a sample was freed", now=now, reserved_at=now
        )
        _queue_email(candidate.pk, "promoted")
        return candidate


def sample_request_set_address(
    *, token: str, address: dict, now: dt.datetime | None = None, actor_label: str = "viewer"
) -> SampleRequest:
    """The address step: validate, key the household, score the risk, then approve or queue for review.

    `address`: name, street_address, city, city_area, postal_code, country_area,
    country_code. Outcome: status approved, or review when the campaign vets and
    the risk score reaches its threshold. A household that already has a
    request for this campaign cancels this one (the sample goes back).
    Raises InvalidRequest(invalid_address, fields={field: message}),
    SamplingError(country_not_eligible / same_household), InvalidTransition,
    SampleRequest.DoesNotExist.
    """
    now = now or timezone.now()
    try:
        clean = address_normalize(address)
    except AddressInvalid as exc:
        raise InvalidRequest("Please check the address.", code=ErrorCode.INVALID_ADDRESS, fields=exc.errors) from exc
    with transaction.atomic():
        req = SampleRequest.objects.select_for_update().select_related("campaign").get(token=token)
        if req.status != S.REQUESTED:
            raise InvalidTransition(f"This request is {req.get_status_display().lower()}; the address is set.")
        campaign = req.campaign
        if campaign.countries and clean["country_code"] not in campaign.countries:
            raise SamplingError(
                f"This sample ships only to {', '.join(campaign.countries)}.",
                code=ErrorCode.COUNTRY_NOT_ELIGIBLE,
                status=422,
                fields={"country_code": "We cannot ship this sample to that country."},
            )
        req.ship_name = clean["name"]
        req.ship_street_address = clean["street_address"]
        req.ship_city = clean["city"]
        req.ship_city_area = clean["city_area"]
        req.ship_postal_code = clean["postal_code"]
        req.ship_country_area = clean["country_area"]
        req.ship_country = clean["country_code"]
        req.household_key = household_key(
            country_code=clean["country_code"],
            postal_code=clean["postal_code"],
            city=clean["city"],
            street_address=clean["street_address"],
        )
        req.address_at = now
        req.risk_score, req.risk_reasons = vetting.risk_score(request=req, now=now)
        try:
            with transaction.atomic():
                req.save()
        except IntegrityError:
            same_household = True
        else:
            same_household = False
            vet = campaign.vetting_threshold is not None and req.risk_score >= campaign.vetting_threshold
            if vet:
                _transition(
                    req,
                    to=S.REVIEW,
                    actor_label=actor_label,
                    now=now,
                    reason=f"risk {req.risk_score} ≥ {campaign.vetting_threshold}: {', '.join(req.risk_reasons)}",
                )
            else:
                _transition(
                    req,
                    to=S.APPROVED,
                    actor_label="system",
                    now=now,
                    approved_at=now,
                    reason=f"address given, risk {req.risk_score}",
                )
    if same_household:
        with transaction.atomic():
            req = _locked(req.pk)
            _transition(
                req,
                to=S.CANCELLED,
                actor_label="system",
                now=now,
                reason="same household as another request of this campaign",
            )
        raise SamplingError(
            "This address has already requested this sample: it is one per household.",
            code=ErrorCode.SAME_HOUSEHOLD,
            fields={"street_address": "One sample per household."},
        )
    return req


def sample_request_approve(
    *, request_id: int, actor=None, reason: str = "", now: dt.datetime | None = None
) -> SampleRequest:
    """Staff approve a request waiting in the review queue. Raises InvalidTransition from other statuses."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _locked(request_id)
        if req.status != S.REVIEW:
            raise InvalidTransition(
                f"Only requests in review can be approved; this one is {req.get_status_display().lower()}."
            )
        return _transition(
            req,
            to=S.APPROVED,
            actor=actor,
            actor_label=_actor_label(actor, "system"),
            reason=reason,
            now=now,
            approved_at=now,
            decision_reason=reason,
        )


def sample_request_reject(*, request_id: int, reason: str, actor=None, now: dt.datetime | None = None) -> SampleRequest:
    """Staff reject a request (a reason is required); a reserved sample goes to the waitlist."""
    now = now or timezone.now()
    if not (reason or "").strip():
        raise InvalidRequest("Give a reason for the rejection.", code=ErrorCode.REASON_REQUIRED)
    with transaction.atomic():
        req = _locked(request_id)
        req = _transition(
            req,
            to=S.REJECTED,
            actor=actor,
            actor_label=_actor_label(actor, "system"),
            reason=reason,
            now=now,
            decision_reason=reason,
        )
        _queue_email(req.pk, "rejected")
        return req


def sample_request_cancel(
    *, request_id: int, reason: str = "", actor=None, actor_label: str = "", now: dt.datetime | None = None
) -> SampleRequest:
    """Cancel a request that has not shipped; a reserved sample goes to the waitlist."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _locked(request_id)
        return _transition(
            req,
            to=S.CANCELLED,
            actor=actor,
            actor_label=actor_label or _actor_label(actor, "system"),
            reason=reason,
            now=now,
        )


def sample_request_mark_shipped(
    *,
    request_id: int,
    tracking_number: str = "",
    carrier: str = "",
    actor=None,
    actor_label: str = "",
    now: dt.datetime | None = None,
) -> SampleRequest:
    """approved → shipped, with the tracking number. Queues the "shipped" e-mail."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _locked(request_id)
        req = _transition(
            req,
            to=S.SHIPPED,
            actor=actor,
            actor_label=actor_label or _actor_label(actor, "system"),
            reason=f"{carrier} {tracking_number}".strip(),
            now=now,
            shipped_at=now,
            tracking_number=tracking_number,
            carrier=carrier,
        )
        _queue_email(req.pk, "shipped")
        partner_event_emit(
            event="sample.shipped",
            subject=f"sample_request:{req.pk}",
            data={
                "sample_request": {
                    "id": req.pk,
                    "campaign_id": req.campaign_id,
                    "tracking_number": req.tracking_number,
                    "carrier": req.carrier,
                    "shipped_at": req.shipped_at.isoformat() if req.shipped_at else None,
                }
            },
            partner_ids=[req.partner_id],
        )
        return req


def sample_request_mark_delivered(
    *, request_id: int, actor=None, actor_label: str = "", now: dt.datetime | None = None
) -> SampleRequest:
    """shipped → delivered."""
    now = now or timezone.now()
    with transaction.atomic():
        req = _locked(request_id)
        return _transition(
            req,
            to=S.DELIVERED,
            actor=actor,
            actor_label=actor_label or _actor_label(actor, "system"),
            now=now,
            delivered_at=now,
        )


def sample_requests_expire(*, now: dt.datetime | None = None) -> int:
    """Cancel accepted requests still without an address `campaign.address_hours` after the reservation.

    Their samples go to the waitlist (best priority first). Returns how many were cancelled.
    Run by the scheduled task `sampling.tasks.sample_requests_expire` (hourly).
    """
    now = now or timezone.now()
    stale = SampleRequest.objects.filter(status=S.REQUESTED, reserved_at__isnull=False).select_related("campaign")
    expired = 0
    for req in stale.iterator():
        if req.reserved_at + dt.timedelta(hours=req.campaign.address_hours) > now:
            continue
        with transaction.atomic():
            locked = _locked(req.pk)
            if locked.status != S.REQUESTED:
                continue
            _transition(
                locked,
                to=S.CANCELLED,
                actor_label="system",
                now=now,
                reason=f"no address within {req.campaign.address_hours} hours",
            )
            expired += 1
    return expired
