/* Staff check-in: scan a pickup-pass QR code with the phone camera and submit it.
 * Decodes with the browser's BarcodeDetector where available, else with the vendored jsQR.
 * After a check-in the page reloads; scanning resumes by itself if it was on (sessionStorage). */
(function () {
  "use strict";
  var form = document.querySelector("[data-checkin-form]");
  if (!form) return;
  var input = form.querySelector("input[name=code]");
  var button = document.querySelector("[data-scan-start]");
  var stopButton = document.querySelector("[data-scan-stop]");
  var video = document.querySelector("[data-scan-video]");
  var statusEl = document.querySelector("[data-scan-status]");
  var canvas = document.createElement("canvas");
  var ctx = canvas.getContext("2d", { willReadFrequently: true });
  var stream = null, detector = null, busy = false;

  function say(text) { if (statusEl) statusEl.textContent = text; }

  function decodeCanvas(source, width, height) {
    canvas.width = width; canvas.height = height;
    ctx.drawImage(source, 0, 0, width, height);
    var image = ctx.getImageData(0, 0, width, height);
    var found = window.jsQR ? window.jsQR(image.data, width, height, { inversionAttempts: "attemptBoth" }) : null;
    return found ? found.data : null;
  }
  window.MMPickupScan = { decodeCanvas: decodeCanvas };

  function submit(code) {
    stop(false);
    input.value = code;
    say("Code read, checking in…");
    form.submit();
  }

  function tick() {
    if (!stream) return;
    if (busy || video.readyState < 2) { requestAnimationFrame(tick); return; }
    busy = true;
    var done = function (code) { busy = false; if (code) submit(code); else requestAnimationFrame(tick); };
    if (detector) {
      detector.detect(video).then(function (codes) { done(codes.length ? codes[0].rawValue : null); },
        function () { detector = null; done(null); });
    } else {
      done(decodeCanvas(video, video.videoWidth, video.videoHeight));
    }
  }

  function start() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say("This browser cannot use the camera here (HTTPS needed). Type the code instead.");
      return;
    }
    if ("BarcodeDetector" in window) {
      try { detector = new window.BarcodeDetector({ formats: ["qr_code"] }); } catch (e) { detector = null; }
    }
    navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false }).then(function (s) {
      stream = s;
      video.srcObject = s;
      video.hidden = false;
      video.setAttribute("playsinline", "");
      video.play();
      sessionStorage.setItem("mm-scan-live", "1");
      if (stopButton) stopButton.hidden = false;
      if (button) button.hidden = true;
      say("Point the camera at the pass QR code.");
      requestAnimationFrame(tick);
    }, function (err) {
      say("Camera unavailable (" + err.name + "). Type the code instead.");
    });
  }

  function stop(forget) {
    if (stream) stream.getTracks().forEach(function (t) { t.stop(); });
    stream = null;
    video.hidden = true;
    if (forget) sessionStorage.removeItem("mm-scan-live");
    if (stopButton) stopButton.hidden = true;
    if (button) button.hidden = false;
  }

  if (button) button.addEventListener("click", start);
  if (stopButton) stopButton.addEventListener("click", function () { stop(true); say("Camera off."); });
  if (sessionStorage.getItem("mm-scan-live") === "1") start();
})();
