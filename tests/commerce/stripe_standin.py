"""A local stand-in for the Stripe API paths Micromoments uses, on loopback.

No network reaches Stripe here, so tests point the stripe library at this
server (`settings.STRIPE_API_HOST` → `stripe.api_base`). It answers with Stripe's
own fixture objects (tests/commerce/stripe_fixtures/, from stripe/openapi),
changing only ids, amounts and state, and keeps Checkout Sessions in memory so
that create → expire → retrieve behave like Stripe's:

  POST /v1/checkout/sessions            create (honours Idempotency-Key); amount_total = lines + the
                                        shipping option + `automatic_tax_minor` when automatic_tax is on
                                        and prices are tax-exclusive (total_details says which)
  GET  /v1/checkout/sessions/{id}       retrieve
  POST /v1/checkout/sessions/{id}/expire  open → expired; 400 if complete
  POST /v1/refunds                      create (honours Idempotency-Key; status `refund_status`)
  GET  /v1/refunds?payment_intent=…     list a PaymentIntent's refunds (newest first, one page)
  GET  /v1/refunds/{id}                 retrieve
  GET  /v1/{payment_intents,customers,charges,balance_transactions,payment_methods}/{id}  fixture, that id
  GET  /v1/account                      the fixture account (dj-stripe asks for it)

Memberships on Stripe Billing (docs/memberships.md):
  POST /v1/checkout/sessions mode=subscription   line_items[0][price] + subscription_data[metadata]
  GET/POST /v1/subscriptions/{id}       retrieve / update (cancel_at_period_end)
  DELETE /v1/subscriptions/{id}         cancel now (status canceled, ended_at)
  POST /v1/billing_portal/sessions      a customer portal session (its `url`)
  POST /v1/customers/{id}/balance_transactions  a customer balance credit (negative amount)
  POST /v1/products, /v1/prices         create (honour Idempotency-Key)

`complete_subscription(session_id, …)` finishes a subscription checkout (creates the subscription from the
fixture, period on its item as newer API versions put it); `invoice_for(subscription_id, …)` is an invoice
of that subscription as `invoice.paid` / `invoice.payment_failed` carry it.

`complete(session_id)` marks a session paid, as a buyer finishing on the hosted page would.
`dashboard_refund(payment_intent, amount)` makes a refund as staff would in the Stripe dashboard,
`refund_set(id, status=…)` moves a refund on (pending → succeeded/failed/canceled), and
`charge_for(payment_intent)` gives the charge as a `charge.refunded` event carries it.
"""

from __future__ import annotations

import copy
import itertools
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl

FIXTURES = Path(__file__).parent / "stripe_fixtures"
FIXTURE_PATHS = {
    "payment_intents": "payment_intent",
    "customers": "customer",
    "charges": "charge",
    "balance_transactions": "balance_transaction",
    "payment_methods": "payment_method",
    "products": "product",
    "prices": "price",
    "invoices": "invoice",
}


def fixture(name: str) -> dict:
    return json.loads((FIXTURES / f"{name}.json").read_text())


class StripeStandIn:
    def __init__(self):
        self.sessions: dict[str, dict] = {}
        self.refunds: list[dict] = []
        self.requests: list[tuple[str, str, dict]] = []
        self.idempotent: dict[str, dict] = {}
        self.fail_posts = 0  # answer the next N POSTs with HTTP 500 (an outage, retries included)
        self.refund_status = "succeeded"  # status of refunds created through the API
        self.refuse_refunds = ""  # if set, POST /v1/refunds answers 400 with this message (a definite refusal)
        self.automatic_tax_minor = 0  # the tax "Stripe Tax" computes for a session with automatic_tax enabled
        self.subscriptions: dict[str, dict] = {}
        self.balance_transactions: list[dict] = []
        self.prices: dict[str, dict] = {}
        self._ids = itertools.count(1)
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def complete(self, session_id: str) -> dict:
        with self._lock:
            session = self.sessions[session_id]
            session.update(status="complete", payment_status="paid")
            return copy.deepcopy(session)

    # --- subscriptions (memberships) ---------------------------------------------------
    def complete_subscription(self, session_id: str, *, period_start: int, period_end: int, status="active"):
        """The buyer finished a subscription-mode checkout: (session, subscription) as Stripe then has them."""
        with self._lock:
            session = self.sessions[session_id]
            sub = fixture("subscription")
            sid = self._new_id("sub")
            customer = self._new_id("cus")
            item = sub["items"]["data"][0]
            item.update(current_period_start=period_start, current_period_end=period_end, subscription=sid)
            known = self.prices.get(session.get("_price") or "")
            if known:
                item["price"] = copy.deepcopy(known)
            sub.update(
                id=sid,
                customer=customer,
                status=status,
                cancel_at_period_end=False,
                cancel_at=None,
                canceled_at=None,
                ended_at=None,
                start_date=period_start,
                created=period_start,
                metadata=dict(session.get("_subscription_metadata") or {}),
            )
            sub["items"]["url"] = f"/v1/subscription_items?subscription={sid}"
            for key in ("current_period_start", "current_period_end"):
                sub.pop(key, None)  # newer API versions: on the items only
            self.subscriptions[sid] = sub
            session.update(status="complete", payment_status="paid", subscription=sid, customer=customer)
            return copy.deepcopy(session), copy.deepcopy(sub)

    def subscription_set(self, subscription_id: str, **changes) -> dict:
        """Change a subscription as Stripe would (a renewal, a failed payment); `current_period_*` go on the item."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
            item = sub["items"]["data"][0]
            for key in ("current_period_start", "current_period_end"):
                if key in changes:
                    item[key] = changes.pop(key)
            sub.update(changes)
            return copy.deepcopy(sub)

    def invoice_for(self, subscription_id: str, *, period_start: int, period_end: int, paid: bool = True) -> dict:
        """An invoice of the subscription for [period_start, period_end), paid or failed."""
        with self._lock:
            sub = self.subscriptions[subscription_id]
            price = sub["items"]["data"][0]["price"]
        invoice = fixture("invoice")
        line = invoice["lines"]["data"][0]
        line.update(
            amount=price["unit_amount"],
            period={"start": period_start, "end": period_end},
            parent={
                "type": "subscription_item_details",
                "invoice_item_details": None,
                "subscription_item_details": {"subscription": subscription_id, "proration": False},
            },
        )
        invoice.update(
            id=self._new_id("in"),
            customer=sub["customer"],
            billing_reason="subscription_cycle",
            amount_due=price["unit_amount"],
            amount_paid=price["unit_amount"] if paid else 0,
            currency=price["currency"],
            status="paid" if paid else "open",
            attempted=True,
            period_start=period_start,
            period_end=period_start,
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"subscription": subscription_id, "metadata": dict(sub["metadata"])},
            },
        )
        return invoice

    def _subscription_route(self, method: str, sid: str, form: dict) -> tuple[int, dict]:
        sub = self.subscriptions.get(sid)
        if sub is None:
            return 404, {"error": {"type": "invalid_request_error", "message": f"No such subscription: '{sid}'"}}
        if method == "POST" and "cancel_at_period_end" in form:
            sub["cancel_at_period_end"] = form["cancel_at_period_end"] == "true"
        if method == "DELETE":
            if sub["status"] == "canceled":
                return 400, {"error": {"type": "invalid_request_error", "message": "Already canceled."}}
            sub.update(status="canceled", ended_at=1_764_000_000, canceled_at=1_764_000_000)
        return 200, copy.deepcopy(sub)

    def _create_price(self, form: dict) -> dict:
        price = fixture("price")
        price.update(
            id=self._new_id("price"),
            product=form.get("product"),
            currency=form.get("currency"),
            unit_amount=int(form.get("unit_amount") or 0),
            unit_amount_decimal=form.get("unit_amount"),
            type="recurring",
            recurring={
                "interval": form.get("recurring[interval]"),
                "interval_count": 1,
                "meter": None,
                "trial_period_days": None,
                "usage_type": "licensed",
            },
        )
        self.prices[price["id"]] = price
        return price

    # --- request handling -------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}_test_{next(self._ids):06d}"

    def _create_session(self, form: dict) -> dict:
        session = fixture("checkout_session")
        sid = self._new_id("cs")
        if form.get("mode") == "subscription":
            price = self.prices.get(form.get("line_items[0][price]") or "", {})
            session.update(
                id=sid,
                mode="subscription",
                url=f"https://checkout.stripe.com/c/pay/{sid}",
                amount_total=price.get("unit_amount"),
                currency=price.get("currency", "usd"),
                customer_email=form.get("customer_email"),
                client_reference_id=form.get("client_reference_id"),
                success_url=form.get("success_url"),
                cancel_url=form.get("cancel_url"),
                metadata={k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
                payment_intent=None,
                subscription=None,
                status="open",
                payment_status="unpaid",
                _price=form.get("line_items[0][price]"),
                _subscription_metadata={
                    k[len("subscription_data[metadata][") : -1]: v
                    for k, v in form.items()
                    if k.startswith("subscription_data[metadata][")
                },
            )
            self.sessions[sid] = session
            return session
        items = {}
        for key, value in form.items():
            if key.startswith("line_items["):
                index = key.split("[")[1].rstrip("]")
                items.setdefault(index, {})[key.split("]", 1)[1]] = value
        subtotal = sum(int(i["[price_data][unit_amount]"]) * int(i.get("[quantity]", 1)) for i in items.values())
        currency = next(iter(items.values()))["[price_data][currency]"] if items else "usd"
        shipping = int(form.get("shipping_options[0][shipping_rate_data][fixed_amount][amount]") or 0)
        automatic = form.get("automatic_tax[enabled]") in ("true", "True")
        tax = self.automatic_tax_minor if automatic else 0
        exclusive = any(i.get("[price_data][tax_behavior]") == "exclusive" for i in items.values())
        total = subtotal + shipping + (tax if exclusive else 0)
        session.update(
            id=sid,
            url=f"https://checkout.stripe.com/c/pay/{sid}",
            amount_total=total,
            amount_subtotal=subtotal,
            total_details={"amount_discount": 0, "amount_shipping": shipping, "amount_tax": tax},
            automatic_tax={"enabled": automatic, "liability": None, "provider": None, "status": "complete"},
            currency=currency,
            client_reference_id=form.get("client_reference_id"),
            customer_email=form.get("customer_email"),
            expires_at=int(form.get("expires_at", 0)),
            success_url=form.get("success_url"),
            cancel_url=form.get("cancel_url"),
            metadata={k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            payment_intent=self._new_id("pi"),
            status="open",
            payment_status="unpaid",
        )
        self.sessions[sid] = session
        return session

    def _create_refund(self, form: dict, status: str | None = None) -> dict:
        refund = fixture("refund")
        refund.update(
            id=self._new_id("re"),
            amount=int(form["amount"]),
            currency=form.get("currency", "usd"),
            payment_intent=form.get("payment_intent"),
            charge="ch_for_" + str(form.get("payment_intent")),
            created=1_764_000_000 + len(self.refunds),
            reason=form.get("reason"),
            status=status or self.refund_status,
            metadata={k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
        )
        self.refunds.append(refund)
        return refund

    def dashboard_refund(self, payment_intent: str, amount: int, *, status: str = "succeeded", currency="usd") -> dict:
        """A refund made in the Stripe dashboard: no metadata, Stripe's own id."""
        with self._lock:
            form = {"amount": str(amount), "payment_intent": payment_intent, "currency": currency}
            return copy.deepcopy(self._create_refund(form, status=status))

    def refund_set(self, refund_id: str, **changes) -> dict:
        with self._lock:
            refund = next(r for r in self.refunds if r["id"] == refund_id)
            refund.update(changes)
            return copy.deepcopy(refund)

    def refunds_of(self, payment_intent: str) -> list[dict]:
        with self._lock:
            return [copy.deepcopy(r) for r in reversed(self.refunds) if r["payment_intent"] == payment_intent]

    def charge_for(self, payment_intent: str, amount: int, *, embed_refunds: bool = True) -> dict:
        """The charge as a `charge.refunded` event carries it; without `embed_refunds`, as API versions since
        2022-11-15 send it (no refund list: the receiver must ask Stripe)."""
        refunds = self.refunds_of(payment_intent)
        refunded = sum(r["amount"] for r in refunds if r["status"] in ("succeeded", "pending"))
        charge = fixture("charge")
        charge.update(
            id="ch_for_" + payment_intent,
            amount=amount,
            amount_captured=amount,
            amount_refunded=refunded,
            captured=True,
            refunded=refunded >= amount,
            payment_intent=payment_intent,
        )
        if embed_refunds:
            charge["refunds"].update(data=refunds, url=f"/v1/charges/{charge['id']}/refunds")
        else:
            charge.pop("refunds")
        return charge

    def _route(self, method: str, path: str, form: dict, idem: str | None) -> tuple[int, dict]:
        parts = path.strip("/").split("/")
        if method == "POST" and self.fail_posts:
            self.fail_posts -= 1
            return 500, {"error": {"type": "api_error", "message": "Stand-in outage"}}
        if method == "POST" and idem and idem in self.idempotent:
            return 200, self.idempotent[idem]
        result: dict | None = None
        if parts[:3] == ["v1", "checkout", "sessions"]:
            if method == "POST" and len(parts) == 3:
                result = self._create_session(form)
            elif len(parts) >= 4 and parts[3] in self.sessions:
                session = self.sessions[parts[3]]
                if method == "POST" and parts[-1] == "expire":
                    if session["status"] != "open":
                        return 400, {
                            "error": {
                                "type": "invalid_request_error",
                                "message": f"Only open sessions can be expired ({session['status']}).",
                            }
                        }
                    session["status"] = "expired"
                result = session
            else:
                return 404, {"error": {"type": "invalid_request_error", "message": "No such checkout.session"}}
        elif parts == ["v1", "refunds"] and method == "POST":
            if self.refuse_refunds:
                return 400, {"error": {"type": "invalid_request_error", "message": self.refuse_refunds}}
            result = self._create_refund(form)
        elif parts == ["v1", "refunds"] and method == "GET":
            found = [r for r in reversed(self.refunds) if r["payment_intent"] == form.get("payment_intent")]
            result = {"object": "list", "data": found, "has_more": False, "url": "/v1/refunds"}
        elif parts[:2] == ["v1", "refunds"] and len(parts) == 3 and method == "GET":
            result = next((r for r in self.refunds if r["id"] == parts[2]), None)
            if result is None:
                return 404, {"error": {"type": "invalid_request_error", "message": f"No such refund: '{parts[2]}'"}}
        elif parts[:2] == ["v1", "subscriptions"] and len(parts) == 3:
            status, result = self._subscription_route(method, parts[2], form)
            if status != 200:
                return status, result
        elif parts == ["v1", "billing_portal", "sessions"] and method == "POST":
            result = fixture("billing_portal_session")
            pid = self._new_id("bps")
            result.update(
                id=pid,
                customer=form.get("customer"),
                return_url=form.get("return_url"),
                url=f"https://billing.stripe.com/p/session/{pid}",
            )
        elif parts[:2] == ["v1", "customers"] and parts[3:] == ["balance_transactions"] and method == "POST":
            result = fixture("customer_balance_transaction")
            result.update(
                id=self._new_id("cbtxn"),
                customer=parts[2],
                amount=int(form.get("amount") or 0),
                currency=form.get("currency"),
                description=form.get("description"),
                metadata={k[len("metadata[") : -1]: v for k, v in form.items() if k.startswith("metadata[")},
            )
            self.balance_transactions.append(result)
        elif parts == ["v1", "products"] and method == "POST":
            result = fixture("product")
            result.update(id=self._new_id("prod"), name=form.get("name"))
        elif parts == ["v1", "prices"] and method == "POST":
            result = self._create_price(form)
        elif parts[:2] == ["v1", "prices"] and len(parts) == 3 and parts[2] in self.prices:
            result = self.prices[parts[2]]
        elif parts == ["v1", "account"]:
            result = fixture("account")
        elif len(parts) == 3 and parts[1] in FIXTURE_PATHS:
            result = fixture(FIXTURE_PATHS[parts[1]])
            result["id"] = parts[2]
            if parts[1] == "customers":  # a customer of ours has no discount (the fixture's has an empty coupon)
                result["discount"] = None
            if parts[1] == "charges" and parts[2].startswith("ch_for_"):  # the charge behind our PaymentIntent
                result.update(payment_intent=parts[2].removeprefix("ch_for_"), captured=True)
        if result is None:
            return 404, {"error": {"type": "invalid_request_error", "message": f"Unrecognized request URL {path}"}}
        if method == "POST" and idem:
            self.idempotent[idem] = copy.deepcopy(result)
        return 200, copy.deepcopy(result)

    def _handler(self):
        standin = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self, method):
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length).decode() if length else ""
                path, _, query = self.path.partition("?")
                form = dict(parse_qsl(raw or query, keep_blank_values=True))
                with standin._lock:
                    standin.requests.append((method, path, form))
                    status, body = standin._route(method, path, form, self.headers.get("Idempotency-Key"))
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.send_header("Request-Id", "req_standin")
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self):
                self._serve("GET")

            def do_POST(self):
                self._serve("POST")

            def do_DELETE(self):
                self._serve("DELETE")

            def log_message(self, *args):
                pass

        return Handler
