// Forms marked data-confirm="Question?" ask before they submit (instead of an inline onsubmit handler,
// which the Content-Security-Policy refuses).
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target.closest ? event.target.closest("form[data-confirm]") : null;
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });
})();
