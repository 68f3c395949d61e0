// "Notify me" on the session page: show the waitlist link while a drop card's state is sold_out.
// session.js updates each card's data-state from the status polls; this only watches that attribute.
(function () {
  "use strict";
  function sync(card) {
    var link = card.querySelector("[data-waitlist]");
    if (!link || link.hasAttribute("data-waitlist-off")) return;
    link.hidden = card.dataset.state !== "sold_out";
  }
  var cards = document.querySelectorAll("article.drop[data-drop]");
  if (!cards.length || !window.MutationObserver) return;
  var observer = new MutationObserver(function (records) {
    records.forEach(function (r) { sync(r.target); });
  });
  cards.forEach(function (card) {
    sync(card);
    observer.observe(card, { attributes: true, attributeFilter: ["data-state"] });
  });
})();
