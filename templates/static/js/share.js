// Share-to-unlock (docs/share-to-unlock.md). The page is shared between viewers: everything personal comes
// from the panel's no-store JSON (data-share-me-url). A page opened with ?ref=<token> reports the visit;
// the server alone decides whether it counts (new visitor, not a bot, not the sharer, one per network).
(function () {
  "use strict";
  var box = document.querySelector("[data-share]");
  if (!box || !window.fetch) return;
  var meUrl = box.dataset.shareMeUrl;
  var visitUrl = box.dataset.shareVisitUrl;
  var flag = "mm_share_" + box.dataset.shareCampaign;
  var panel = box.querySelector("[data-share-panel]");
  var urlInput = box.querySelector("[data-share-url]");
  var progress = box.querySelector("[data-share-progress]");
  var codeWrap = box.querySelector("[data-share-code-wrap]");
  var code = box.querySelector("[data-share-code]");
  var codeNote = box.querySelector("[data-share-code-note]");
  var button = box.querySelector("[data-share-button]");
  var copy = box.querySelector("[data-share-copy]");
  var poll = null;
  var last = null;

  function remember() { try { window.localStorage.setItem(flag, "1"); } catch (e) { /* private mode */ } }
  function remembered() { try { return window.localStorage.getItem(flag) === "1"; } catch (e) { return false; } }

  function show(data) {
    last = data;
    panel.hidden = false;
    urlInput.value = data.url;
    if (data.unlocked) {
      progress.textContent = "Unlocked: " + data.percent_off + "% off.";
      code.textContent = data.code;
      var until = new Date(data.expires_at).toLocaleString();
      codeNote.textContent = data.expired ? "(expired " + until + ")"
        : "(use it at checkout before " + until + (data.code_bound ? ")" : "; it becomes yours when you press Buy now in this browser)");
      codeWrap.hidden = false;
      if (poll) { clearInterval(poll); poll = null; }
    } else {
      progress.textContent = data.visits + " of " + data.visits_required + " visits";
    }
  }

  function me(retried) {
    return fetch(meUrl, { credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" } })
      .then(function (res) { return res.json().then(function (data) { return { status: res.status, data: data }; }); })
      .then(function (answer) {
        if (answer.status === 200) { show(answer.data); return answer.data; }
        if (answer.data.code === "share_visitor_required" && !retried) return me(true); // the answer set the cookie
        progress.textContent = answer.data.message || "Sharing is not available now.";
        panel.hidden = false;
        return null;
      });
  }

  function startPolling() {
    if (!poll) poll = setInterval(function () { if (document.visibilityState === "visible") me(true).catch(function () {}); }, 20000);
  }

  button.addEventListener("click", function () {
    remember();
    var ready = last ? Promise.resolve(last) : me(false);
    ready.then(function (data) {
      if (!data) return;
      startPolling();
      if (navigator.share) navigator.share({ title: document.title, url: data.url }).catch(function () {});
      else if (navigator.clipboard) navigator.clipboard.writeText(data.url).catch(function () {});
    }).catch(function () {});
  });
  copy.addEventListener("click", function () {
    urlInput.select();
    if (navigator.clipboard) navigator.clipboard.writeText(urlInput.value).catch(function () {});
  });
  if (remembered()) me(false).then(function (data) { if (data && !data.unlocked) startPolling(); }).catch(function () {});

  // A visit through someone's link: report it, then drop ?ref from the address bar (sharing on is your own link).
  var params = new URLSearchParams(window.location.search);
  var ref = params.get("ref");
  if (ref) {
    var visit = function (retried) {
      var body = new URLSearchParams({ ref: ref, wd: navigator.webdriver ? "1" : "0" });
      return fetch(visitUrl, { method: "POST", credentials: "same-origin", cache: "no-store", body: body })
        .then(function (res) { return res.json(); })
        .then(function (data) { if (data.retry && !retried) return visit(true); return data; });
    };
    // after the view beacon (js/view.js: deferred in <head>, so it has run), which gives a first visitor
    // the cookie the visit is counted for
    (window.mmViewSent || Promise.resolve()).then(function () { return visit(false); }).catch(function () {});
    params.delete("ref");
    var rest = params.toString();
    window.history.replaceState(null, "", window.location.pathname + (rest ? "?" + rest : "") + window.location.hash);
  }
})();
