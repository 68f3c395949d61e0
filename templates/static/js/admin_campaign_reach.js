// Sample campaign form in the admin (a static file: the Content-Security-Policy refuses inline scripts).
// Reach preview: ask the server how many known people the (unsaved) segment reaches.
(function () {
  var out = document.querySelector("[data-reach]");
  if (!out) return;
  var ids = ["id_purchase_rule", "id_require_attended", "id_require_clicked", "id_series"];
  function refresh() {
    var q = new URLSearchParams();
    var el = function (id) { return document.getElementById(id); };
    if (el("id_purchase_rule")) q.set("purchase_rule", el("id_purchase_rule").value);
    if (el("id_require_attended")) q.set("require_attended", el("id_require_attended").checked ? "1" : "0");
    if (el("id_require_clicked")) q.set("require_clicked", el("id_require_clicked").checked ? "1" : "0");
    if (el("id_series")) q.set("series", el("id_series").value);
    fetch(out.dataset.reachUrl + "?" + q.toString(), { credentials: "same-origin" })
      .then(function (r) { return r.json(); })
      .then(function (d) {
        out.textContent = d.known + " known " + (d.known === 1 ? "person" : "people") +
          (d.open_to_new ? " plus anyone new who asks" : "") +
          (d.analytics_connected ? "" : " (attendance and click signals are not connected yet)") + ".";
      });
  }
  ids.forEach(function (id) { var e = document.getElementById(id); if (e) e.addEventListener("change", refresh); });
  refresh();
})();
