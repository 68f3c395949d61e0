// The page view of a shared page (one copy for everyone, possibly from a CDN or the nginx micro-cache,
// so Django never sees the request): the page carries its `view` event as JSON (#mm-view-event) and
// this posts it to the analytics beacon (analytics.views.beacon), which records it for this browser's
// visitor id and gives a first visitor the `mm_vid` cookie. Personal pages record their view on the
// server and carry no event. window.mmViewSent is a promise settled once the beacon answered, so
// scripts that need the visitor cookie (the watch heartbeat in session.js) can wait for it.
(function () {
  "use strict";
  var el = document.getElementById("mm-view-event");
  if (!el || !window.fetch) { window.mmViewSent = Promise.resolve(); return; }
  var event;
  try { event = JSON.parse(el.textContent); } catch (e) { window.mmViewSent = Promise.resolve(); return; }
  window.mmViewSent = fetch("/a/e", {
    method: "POST",
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify({ events: [event] })
  }).catch(function () { /* analytics never breaks the page */ });
})();
