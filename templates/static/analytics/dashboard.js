// Draws every chart of an analytics dashboard from the JSON configs the page embeds.
(function () {
  "use strict";
  function percent(value) { return (value * 100).toFixed(1) + " %"; }
  document.querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
    var config = JSON.parse(document.getElementById(canvas.dataset.chart).textContent);
    if (config.percentAxis) {
      config.options = config.options || {};
      config.options.scales = config.options.scales || {};
      config.options.scales[config.percentAxis] = Object.assign(
        { ticks: { callback: percent }, min: 0 }, config.options.scales[config.percentAxis] || {});
      delete config.percentAxis;
    }
    config.options = Object.assign({ responsive: true, maintainAspectRatio: false, animation: false }, config.options || {});
    new window.Chart(canvas, config);
    canvas.dataset.rendered = "true";
  });
})();
