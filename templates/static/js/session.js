// Live drop widgets: countdowns tick every second; stock, price and state refresh
// by polling the session's small status endpoint (data-status-url) every few seconds.
(function () {
  "use strict";
  var root = document.querySelector("[data-status-url]");
  var skew = 0; // server time - client time, in ms

  function fmt(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (h ? h + ":" + two(m) : m) + ":" + two(s);
  }

  var LABELS = { live: "Live", sold_out: "Sold out", closed: "Closed", not_yet_open: "Opens soon", cancelled: "Cancelled" };

  // The session decides first (commerce.selectors.session_sale_state): a drop of a scheduled
  // session (no pre-sale) waits for the host, an ended or cancelled session's drops never reopen.
  function tick() {
    var now = Date.now() + skew;
    var startCd = document.querySelector("[data-session-countdown]");
    if (startCd) {
      var starts = Date.parse(startCd.dataset.startsAt);
      startCd.textContent = now < starts ? fmt((starts - now) / 1000) : "a moment (waiting for the host)";
    }
    document.querySelectorAll("[data-drop]").forEach(function (el) {
      var opens = Date.parse(el.dataset.opensAt), closes = Date.parse(el.dataset.closesAt);
      var cd = el.querySelector("[data-countdown]");
      if (!cd) return;
      var session = el.dataset.sessionState;
      if (el.dataset.state === "cancelled") cd.textContent = "Session cancelled";
      else if (session === "ended") cd.textContent = "Closed (session ended)";
      else if (session === "scheduled") cd.textContent = "On sale when the session goes live";
      else if (now < opens) cd.textContent = "Opens in " + fmt((opens - now) / 1000);
      else if (now < closes) cd.textContent = "Closes in " + fmt((closes - now) / 1000);
      else { cd.textContent = "Closed"; setState(el, "closed"); }
    });
  }

  // "Price drops at 18:15 CET (Europe/Berlin)": the page's zone, named, as the server rendered it
  // (the hour and minute come from Intl in that zone; the zone's name is kept from the server's text).
  function zoned(iso, previous) {
    var zone = root && root.dataset.zone;
    if (!zone || !window.Intl) return "";
    var hm = new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", hour12: false, timeZone: zone }).format(new Date(iso));
    var rest = previous.indexOf(" ") > 0 ? previous.slice(previous.indexOf(" ")) : " (" + zone + ")";
    return hm + rest;
  }

  function setState(el, state) {
    if (el.dataset.state === state) return;
    el.dataset.state = state;
    var badge = el.querySelector("[data-badge]");
    if (badge) { badge.className = "badge " + state; badge.textContent = LABELS[state] || state; }
    var btn = el.querySelector("[data-buy]");
    if (btn) btn.setAttribute("aria-disabled", state === "live" ? "false" : "true");
    var qr = el.querySelector("[data-qr]");
    // "Scan to buy" only while the drop sells, and for an exclusive drop only once js/member.js opened it
    if (qr) qr.hidden = state !== "live" || el.hasAttribute("data-member-locked");
  }

  // The drop the host pinned in the control room: featured first and highlighted; when the pin moves
  // or goes, the other cards return to their opening order. Nothing reloads.
  function applyPin(id) {
    var key = id === null || id === undefined ? "" : String(id);
    if (!root || root.dataset.pinned === key) return;
    root.dataset.pinned = key;
    var cards = Array.prototype.slice.call(document.querySelectorAll("[data-drop]"));
    if (!cards.length) return;
    cards.forEach(function (el) {
      var on = el.dataset.drop === key;
      el.classList.toggle("pinned", on);
      var label = el.querySelector("[data-pinned-label]");
      if (label) label.hidden = !on;
    });
    var parent = cards[0].parentNode, anchor = cards[cards.length - 1].nextSibling;
    cards.sort(function (a, b) {
      if ((a.dataset.drop === key) !== (b.dataset.drop === key)) return a.dataset.drop === key ? -1 : 1;
      return (Date.parse(a.dataset.opensAt) - Date.parse(b.dataset.opensAt)) || (parseInt(a.dataset.drop, 10) - parseInt(b.dataset.drop, 10));
    });
    cards.forEach(function (el) { parent.insertBefore(el, anchor); });
  }

  // The control room's flash coupon: a banner with the code, a countdown and the uses left.
  var banner = document.querySelector("[data-flash-banner]");
  function applyFlash(f) {
    if (!banner) return;
    if (!f) { banner.hidden = true; banner.dataset.endsAt = ""; return; }
    banner.dataset.endsAt = f.ends_at;
    banner.querySelector("[data-flash-code]").textContent = f.code;
    banner.querySelector("[data-flash-percent]").textContent = String(f.percent_off);
    var wrap = banner.querySelector("[data-flash-remaining-wrap]");
    wrap.hidden = f.remaining === null;
    if (f.remaining !== null) banner.querySelector("[data-flash-remaining]").textContent = f.remaining;
    tickFlash();
  }
  function tickFlash() {
    if (!banner || !banner.dataset.endsAt) return;
    var left = (Date.parse(banner.dataset.endsAt) - (Date.now() + skew)) / 1000;
    banner.hidden = left <= 0;
    banner.querySelector("[data-flash-countdown]").textContent = fmt(left);
  }

  function poll() {
    if (!root) return;
    fetch(root.dataset.statusUrl, { headers: { Accept: "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) {
        if (!data) return;
        skew = Date.parse(data.server_time) - Date.now();
        // The host went live, ended or cancelled: reload once so the stream area matches the state.
        if (root.dataset.session && data.session !== root.dataset.session) { window.location.reload(); return; }
        if ("pinned_drop_id" in data) applyPin(data.pinned_drop_id);
        if ("flash_coupon" in data) applyFlash(data.flash_coupon);
        data.drops.forEach(function (d) {
          var el = document.querySelector('[data-drop="' + d.id + '"]');
          if (!el) return;
          var stock = el.querySelector("[data-available]");
          if (stock) stock.textContent = d.available;
          var price = el.querySelector("[data-price]");
          if (price && window.Intl) {
            var digits = new Intl.NumberFormat("en-US", { style: "currency", currency: d.currency }).resolvedOptions().maximumFractionDigits;
            price.textContent = new Intl.NumberFormat("en-US", { style: "currency", currency: d.currency }).format(d.price_minor / Math.pow(10, digits));
          }
          el.dataset.opensAt = d.opens_at; el.dataset.closesAt = d.closes_at;
          el.dataset.sessionState = d.session_state;
          var next = el.querySelector("[data-next-price] time");
          if (next && d.next_price_change_at && zoned(d.next_price_change_at, next.textContent)) {
            next.setAttribute("datetime", d.next_price_change_at);
            next.textContent = zoned(d.next_price_change_at, next.textContent);
          }
          setState(el, d.state);
        });
      })
      .catch(function () { /* keep the last known figures */ });
  }

  // The cart page: a countdown to the hold's expiry.
  var holdTimer = document.querySelector("[data-hold-expires]");
  function tickHold() {
    if (!holdTimer) return;
    var left = (Date.parse(holdTimer.dataset.holdExpires) - Date.now()) / 1000;
    holdTimer.textContent = left > 0 ? fmt(left) : "expired";
    if (left <= 0) { var pay = document.querySelector("[data-pay]"); if (pay) pay.disabled = true; }
  }

  tick(); setInterval(tick, 1000); tickHold(); setInterval(tickHold, 1000); tickFlash(); setInterval(tickFlash, 1000);
  if (root) { setInterval(poll, parseInt(root.dataset.pollMs || "4000", 10)); }

  // Watch evidence (sessions_app.watch): while the session is live and the page is visible, a
  // heartbeat about every data-watch-ms to an uncached endpoint, after the view beacon (js/view.js) has
  // given a first visitor the cookie the heartbeat is credited to. A status poll may come from a
  // cache and prove nothing; the heartbeat always reaches the server. Each wait is the period ± 25 %
  // at random: viewers who arrived together at a drop's announcement would otherwise beat together
  // every period, a burst at the origin; 15–25 s stays above the server's 10 s write window and
  // below its 30 s gap cap, so every beat is credited in full.
  function beat() {
    if (document.visibilityState === "hidden") return;
    fetch(root.dataset.watchUrl, { method: "POST", credentials: "same-origin" })
      .catch(function () { /* the next beat retries */ });
  }
  if (root && root.dataset.watchUrl && root.dataset.session === "live") {
    var period = parseInt(root.dataset.watchMs || "20000", 10);
    var next = function () {
      setTimeout(function () { beat(); next(); }, period * (0.75 + Math.random() * 0.5));
    };
    (window.mmViewSent || Promise.resolve()).then(function () { beat(); next(); });
  }
})();
