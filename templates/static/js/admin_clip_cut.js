// Cut-a-clip page (admin): set start/end from the player and preview start → end.
// No inline script (CSP): wired by data attributes on the page.
(function () {
  "use strict";
  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }
  ready(function () {
    var player = document.querySelector("[data-cut-player]");
    var start = document.querySelector("[data-cut-start]");
    var end = document.querySelector("[data-cut-end]");
    var status = document.querySelector("[data-cut-status]");
    if (!player || !start || !end) return;
    var stopAt = null;

    function say(text) {
      if (status) status.textContent = text;
    }
    function seconds(input) {
      var value = parseFloat(input.value);
      return isNaN(value) ? null : value;
    }

    document.querySelectorAll("[data-cut-set]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = button.getAttribute("data-cut-set") === "start" ? start : end;
        target.value = player.currentTime.toFixed(3);
        say((target === start ? "Start" : "End") + " set to " + target.value + " s");
      });
    });

    var preview = document.querySelector("[data-cut-preview]");
    if (preview) {
      preview.addEventListener("click", function () {
        var from = seconds(start);
        var to = seconds(end);
        if (from === null || to === null || to <= from) {
          say("Set a start before the end first.");
          return;
        }
        stopAt = to;
        player.currentTime = from;
        player.play();
        say("Previewing " + from.toFixed(3) + " → " + to.toFixed(3) + " s");
      });
    }

    player.addEventListener("timeupdate", function () {
      if (stopAt !== null && player.currentTime >= stopAt) {
        player.pause();
        stopAt = null;
        say("Preview done.");
      }
    });
    player.addEventListener("seeking", function () {
      // a manual seek outside the preview window ends the preview
      if (stopAt !== null && (player.currentTime > stopAt || player.currentTime < (seconds(start) || 0) - 0.5)) {
        stopAt = null;
      }
    });
  });
})();
