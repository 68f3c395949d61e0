// CSRF for forms on shared pages (sessions_app/templatetags/shared_page.py): double submit.
// The shared HTML carries an empty `data-csrf-slot` input. Right before a form leaves, the slot gets
// the browser's own csrftoken cookie (Django accepts the cookie's secret as the token). A browser
// without the cookie asks /csrf.json (personal, uncached) once, which sets it. The value is read at
// submit time, not at page load: other requests of the page may have set the cookie meanwhile.
// window.mmCsrf() returns a promise of the token; scripts that post with fetch (sampling.js) wait for it.
(function () {
  "use strict";
  var fetching = null;
  function cookie() {
    var m = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
    return m ? decodeURIComponent(m[1]) : "";
  }
  function fill(token) {
    document.querySelectorAll("input[data-csrf-slot]").forEach(function (input) { input.value = token; });
    return token;
  }
  window.mmCsrf = function () {
    var now = cookie();
    if (now) return Promise.resolve(fill(now));
    if (!fetching) {
      fetching = fetch("/csrf.json", { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { if (!r.ok) throw new Error("csrf " + r.status); return r.json(); })
        .finally(function () { fetching = null; });
    }
    return fetching.then(function (data) { return fill(cookie() || data.token || ""); });
  };
  if (!document.querySelector("input[data-csrf-slot]")) return;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.querySelector || !form.querySelector("input[data-csrf-slot]")) return;
    if (cookie()) { fill(cookie()); return; }
    event.preventDefault();
    event.stopImmediatePropagation(); // the form's own handlers run on the resubmit, once
    window.mmCsrf().then(function () { form.requestSubmit ? form.requestSubmit() : form.submit(); });
  }, true);
})();
