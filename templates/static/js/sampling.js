// Sampling: the micro-form answers in place (JSON) without leaving the stream, and the
// follow-up offer page counts down to its opening or closing (server time, corrected for skew).
(function () {
  "use strict";
  function fmt(seconds) {
    seconds = Math.max(0, Math.floor(seconds));
    var d = Math.floor(seconds / 86400), h = Math.floor((seconds % 86400) / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    var two = function (n) { return (n < 10 ? "0" : "") + n; };
    return (d ? d + "d " : "") + (d || h ? h + ":" + two(m) : m) + ":" + two(s);
  }

  var offer = document.querySelector("[data-offer]");
  if (offer) {
    var skew = Date.parse(offer.dataset.serverTime) - Date.now();
    var cd = offer.querySelector("[data-offer-countdown]");
    var tick = function () {
      var state = offer.dataset.state;
      if (state === "redeemed") return;
      var now = Date.now() + skew, opens = Date.parse(offer.dataset.opensAt), closes = Date.parse(offer.dataset.closesAt);
      if (now < opens) cd.textContent = "Opens in " + fmt((opens - now) / 1000);
      else if (now < closes) cd.textContent = "Closes in " + fmt((closes - now) / 1000);
      else { cd.textContent = "Expired"; offer.dataset.state = "expired"; }
    };
    tick(); setInterval(tick, 1000);
  }

  document.querySelectorAll("[data-sample-form]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.fetch) return;
      event.preventDefault();
      var box = form.parentNode.querySelector("[data-sample-answer]");
      var button = form.querySelector("button[type=submit]");
      button.disabled = true;
      // On the shared session page the CSRF token arrives by script (csrf.js) before the form is read.
      (window.mmCsrf ? window.mmCsrf() : Promise.resolve())
        .then(function () {
          return fetch(form.action, { method: "POST", body: new FormData(form), headers: { Accept: "application/json" }, credentials: "same-origin" });
        })
        .then(function (r) { return r.json(); })
        .then(function (data) {
          box.hidden = false;
          box.className = "alert " + (data.answer === "check_inbox" ? "success" : (data.answer === "not_eligible" || data.answer === "error" ? "error" : ""));
          box.dataset.answer = data.answer;
          box.textContent = "";
          var strong = document.createElement("strong");
          strong.textContent = (data.title || "") + (data.title ? ". " : "");
          box.appendChild(strong);
          box.appendChild(document.createTextNode(data.message || ""));
          // No link here, ever: a request's private link is only e-mailed to the address on file.
          if (data.answer !== "error") form.hidden = true;
        })
        .catch(function () { form.submit(); })
        .finally(function () { button.disabled = false; });
    });
  });

  var country = document.querySelector("select[data-country]");
  if (country) {
    var change = document.querySelector("[data-change-country]");
    if (change) change.hidden = true;
    country.addEventListener("change", function () { if (change) change.click(); });
  }
})();
