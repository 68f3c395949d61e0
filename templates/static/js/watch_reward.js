// Watch reward (docs/watch-coupons.md): "Watch N more minutes to unlock X % off", then a personal code.
// The server decides from its own evidence (the status polls of session.js); this script only counts
// down locally and asks. The page may come from a shared cache, so the CSRF token for the claim comes
// from the GET of the same endpoint (no-store), never from the page.
(function () {
  "use strict";
  var box = document.querySelector("[data-watch-reward]");
  if (!box || !window.fetch) return;
  var url = box.dataset.watchRewardUrl;
  var list = box.querySelector("[data-watch-reward-list]");
  var token = "";
  var rewards = {}; // coupon_id → {item, el, left, busy, done}

  function minutesText(seconds) {
    if (seconds < 60) return seconds + " more second" + (seconds === 1 ? "" : "s");
    var m = Math.ceil(seconds / 60);
    return m + " more minute" + (m === 1 ? "" : "s");
  }

  function show(r, text, code) {
    r.el.textContent = "";
    var p = document.createElement("span");
    p.textContent = text;
    r.el.appendChild(p);
    if (code) {
      var c = document.createElement("strong");
      c.className = "watch-reward-code";
      c.setAttribute("data-watch-reward-code", "");
      c.textContent = code;
      r.el.appendChild(document.createTextNode(" "));
      r.el.appendChild(c);
    }
  }

  function label(item) {
    return item.offer + (item.drop ? " " + item.drop : "");
  }

  function render(r) {
    if (r.done) return;
    if (r.left > 0) show(r, "Watch " + minutesText(r.left) + " to unlock " + label(r.item) + ".");
    else show(r, "Unlocking " + label(r.item) + "…");
  }

  function unlocked(r, code, expiresAt) {
    r.done = true;
    var until = expiresAt ? " (use it at checkout before " + new Date(expiresAt).toLocaleString() + ")" : " (use it at checkout)";
    show(r, "Unlocked " + label(r.item) + ". Your personal code" + until + ":", code);
  }

  function claim(r) {
    if (r.busy || r.done) return;
    r.busy = true;
    var body = new URLSearchParams({ coupon: String(r.item.coupon_id) });
    fetch(url, {
      method: "POST",
      credentials: "same-origin",
      cache: "no-store",
      headers: { "X-CSRFToken": token, Accept: "application/json" },
      body: body,
    })
      .then(function (res) { return res.json().then(function (data) { return { status: res.status, data: data }; }); })
      .then(function (answer) {
        var data = answer.data;
        if (answer.status === 200) return unlocked(r, data.code, data.expires_at);
        if (data.code === "watch_not_enough") {
          r.left = Math.max(5, (data.fields && data.fields.seconds_left) || 10); // the server's count wins
        } else if (data.code === "rate_limited") {
          r.left = Math.max(5, parseInt(data.fields && data.fields.retry_after, 10) || 30);
        } else {
          r.done = true;
          show(r, data.message || "This reward is not available.");
        }
      })
      .catch(function () { r.left = 15; })
      .then(function () { r.busy = false; render(r); });
  }

  function tick() {
    Object.keys(rewards).forEach(function (id) {
      var r = rewards[id];
      if (r.done || r.busy) return;
      if (document.visibilityState === "visible" && r.left > 0) r.left -= 1;
      if (r.left <= 0) claim(r);
      else render(r);
    });
  }

  // after the view beacon (js/view.js): a first visitor's cookie comes from it, not from a racing request
  (window.mmViewSent || Promise.resolve())
    .then(function () {
      return fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } });
    })
    .then(function (res) { return res.json(); })
    .then(function (data) {
      token = data.csrf_token || "";
      (data.rewards || []).forEach(function (item) {
        var li = document.createElement("li");
        li.setAttribute("data-watch-reward-item", String(item.coupon_id));
        list.appendChild(li);
        var r = { item: item, el: li, left: item.seconds_left, busy: false, done: false };
        rewards[item.coupon_id] = r;
        if (item.code) unlocked(r, item.code, item.expires_at);
        else if (data.session !== "live" && item.seconds_left > 0) { r.done = true; show(r, label(item) + ": the session is over."); }
        else render(r);
      });
      if ((data.rewards || []).length) {
        box.hidden = false;
        setInterval(tick, 1000);
      }
    })
    .catch(function () { /* no reward panel: the page works without it */ });
})();
