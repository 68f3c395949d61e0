// The live control room: counters, stock, the flash coupon and the timeline refresh by polling the
// staff-only counters JSON (data-counters-url) every data-poll-ms (1.5 s). Actions are plain POST forms.
(function () {
  "use strict";
  var root = document.querySelector("[data-control-room]");
  if (!root) return;
  var zone = root.dataset.zone;

  function set(selector, text, scope) {
    var el = (scope || root).querySelector(selector);
    if (el && el.textContent !== String(text)) el.textContent = text;
  }

  function money(amountMinor, currency) {
    if (!window.Intl) return amountMinor + " " + currency;
    var nf = new Intl.NumberFormat(undefined, { style: "currency", currency: currency });
    var digits = nf.resolvedOptions().maximumFractionDigits;
    return nf.format(amountMinor / Math.pow(10, digits));
  }

  function mmss(seconds) {
    var m = Math.floor(seconds / 60), s = seconds % 60;
    return m + ":" + (s < 10 ? "0" : "") + s;
  }

  function localTime(iso) {
    try {
      return new Intl.DateTimeFormat("en-GB", { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false, timeZone: zone }).format(new Date(iso));
    } catch (e) { return iso; }
  }

  function render(data) {
    set('[data-counter="viewers_now"]', data.viewers_now);
    set('[data-counter="holds"]', data.holds.count + " · " + data.holds.units + " units");
    set('[data-counter="orders"]', data.orders.paid);
    set('[data-counter="revenue"]', data.revenue.length ? data.revenue.map(function (r) { return money(r.amount_minor, r.currency); }).join(" + ") : "0");
    set('[data-counter="updated"]', localTime(data.server_time));
    var status = root.querySelector("[data-cr-status]");
    if (status && status.dataset.value !== data.session.status) {
      status.dataset.value = data.session.status;
      status.className = "badge " + data.session.status;
    }
    data.drops.forEach(function (d) {
      var card = root.querySelector('[data-cr-drop="' + d.id + '"]');
      if (!card) return;
      set("[data-cr-stock]", d.available + " / " + d.quantity, card);
      var badge = card.querySelector("[data-cr-state]");
      if (badge) { badge.textContent = d.state_label; badge.className = "badge " + d.state; }
      // Open now while the drop's own window is not open (re-open once closed), Close now while it is.
      var openForm = card.querySelector("[data-cr-open-form]"), closeForm = card.querySelector("[data-cr-close-form]");
      if (openForm) {
        openForm.hidden = d.window === "open";
        set("[data-cr-open]", d.window === "closed" ? "Re-open now" : "Open now", openForm);
      }
      if (closeForm) closeForm.hidden = d.window !== "open";
      card.classList.toggle("pinned", !!d.pinned);
      var pinned = card.querySelector("[data-cr-pinned]");
      if (pinned) pinned.hidden = !d.pinned;
    });
    var flash = root.querySelector("[data-cr-flash]");
    var f = data.flash_coupon;
    if (flash) {
      flash.hidden = !f;
      if (f) {
        set("[data-flash-code]", f.code, flash);
        set("[data-flash-percent]", f.percent_off, flash);
        set("[data-flash-left]", f.active ? mmss(f.seconds_left) + " left" : "ended", flash);
        set("[data-flash-used]", f.redemptions, flash);
        set("[data-flash-cap]", f.max_redemptions === null ? "∞" : f.max_redemptions, flash);
      }
    }
    var list = root.querySelector("[data-cr-timeline]");
    if (list && data.timeline) {
      var key = data.timeline.map(function (m) { return m.kind + m.at; }).join("|");
      if (list.dataset.key !== key) {
        list.dataset.key = key;
        list.textContent = "";
        data.timeline.forEach(function (m) {
          var li = document.createElement("li");
          var t = document.createElement("time");
          t.setAttribute("datetime", m.at); t.textContent = m.at_local;
          var label = document.createElement("strong");
          label.textContent = m.label;
          li.appendChild(t); li.appendChild(document.createTextNode(" ")); li.appendChild(label);
          if (m.note) {
            var note = document.createElement("span");
            note.className = "muted"; note.textContent = " " + m.note;
            li.appendChild(note);
          }
          list.appendChild(li);
        });
      }
    }
  }

  function poll() {
    fetch(root.dataset.countersUrl, { headers: { Accept: "application/json" }, credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (data) { if (data) render(data); })
      .catch(function () { /* keep the last figures; the next poll retries */ });
  }

  setInterval(poll, parseInt(root.dataset.pollMs || "1500", 10));
})();
