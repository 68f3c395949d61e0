// Member parts of the shared session page (sessions_app.views.session_page / session_me, docs/members-only.md).
// The HTML is the same for everyone: a members-only session's stream area is the join call to action,
// exclusive drops say "Members only" (their buy link and QR code hidden), member-priced drops carry an
// empty, hidden member-price line. The member pass is an HttpOnly cookie this script cannot read, so on a
// page with member parts (the root carries data-me-url; this script is only included there) it asks
// me.json once (personal, never cached) and, when the answer says this browser is a member, fills in:
//   - the stream: the gate is removed and the member's stream area shown, with the same element the
//     server renders for a public session (iframe / video / link), or the "Original stream" link once ended;
//   - member prices: "Your member price: <formatted>" on each drop that has one for this member;
//   - exclusive drops: the "Members only" note removed, the buy link (and QR code while live) shown.
// A non-member's page stays as it is. window.mmMember is a promise of the answer (null on failure).
(function () {
  "use strict";
  var root = document.querySelector("[data-me-url]");
  if (!root || !window.fetch) { window.mmMember = Promise.resolve(null); return; }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    Object.keys(attrs).forEach(function (k) { node.setAttribute(k, attrs[k]); });
    if (text) node.textContent = text;
    return node;
  }

  // The element sessions_app/session.html renders for a public session's stream (sessions_app.embed kinds).
  function streamElement(stream) {
    if (stream.kind === "iframe") {
      return el("iframe", { src: stream.embed_src, title: "Live stream", allow: "autoplay; encrypted-media; picture-in-picture", allowfullscreen: "" });
    }
    if (stream.kind === "video") {
      var video = el("video", { src: stream.embed_src, controls: "", autoplay: "", loop: "", playsinline: "" });
      video.muted = true;
      video.setAttribute("muted", "");
      return video;
    }
    if (stream.kind === "link") {
      var box = el("div", { "class": "placeholder" });
      box.appendChild(el("a", { href: stream.embed_src, target: "_blank", rel: "noopener" }, "Open the stream ↗"));
      return box;
    }
    return null; // "none": keep the "host has not connected a stream yet" placeholder
  }

  function fillStream(stream) {
    var gate = document.querySelector("[data-members-gate]");
    var area = document.querySelector("[data-member-stream]");
    if (!area) return;
    if (gate) gate.remove();
    area.hidden = false;
    if (!stream) return; // scheduled or cancelled: the member sees the countdown / message
    var slot = area.querySelector("[data-member-stream-slot]");
    var player = streamElement(stream);
    if (slot && player) slot.replaceWith(player);
    var ended = area.querySelector("[data-replay-link]");
    if (ended && stream.url) {
      ended.parentNode.appendChild(document.createTextNode(" "));
      ended.parentNode.appendChild(el("a", { href: stream.url, target: "_blank", rel: "noopener", "data-original-stream": "" }, "Original stream ↗"));
    }
  }

  function fillDrops(drops) {
    Object.keys(drops).forEach(function (id) {
      var card = document.querySelector('[data-drop="' + id + '"]');
      if (!card) return;
      var terms = drops[id];
      var line = card.querySelector("[data-member-price]");
      if (line && terms.member_price) {
        line.querySelector("[data-member-price-amount]").textContent = terms.member_price;
        line.hidden = false;
      }
      if (terms.exclusive_open && card.hasAttribute("data-member-locked")) {
        card.removeAttribute("data-member-locked");
        var note = card.querySelector("[data-members-only]");
        if (note) note.remove();
        var buy = card.querySelector("[data-buy]");
        if (buy) buy.hidden = false;
        var qr = card.querySelector("[data-qr]");
        if (qr) qr.hidden = card.dataset.state !== "live";
      }
    });
  }

  window.mmMember = fetch(root.dataset.meUrl, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { return r.ok ? r.json() : null; })
    .then(function (me) {
      if (!me || !me.member) return me;
      fillStream(me.stream);
      fillDrops(me.drops || {});
      return me;
    })
    .catch(function () { return null; /* the non-member's page stays: nothing is lost but the member parts */ });
})();
