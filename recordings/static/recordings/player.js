// Recording player: asks the prepare endpoint until the recording is ready, waiting as
// Retry-After says (growing a little each time), at most data-max-tries times; then plays
// it through an <audio> element pointed at the signed file URL the endpoint answers with
// (which honours Range, so seeking works), or shows the error text. That URL expires
// (RECORDING_URL_MAX_AGE_SECONDS): when the element fails, the player asks for a fresh one
// once and carries on from where it was.
(function () {
  "use strict";
  var root = document.getElementById("recording-player");
  // data-final: the server already knows the recording cannot be had; ask nothing.
  if (!root || root.dataset.final) {
    return;
  }
  var statusLine = root.querySelector('[data-role="status"]');
  var audio = root.querySelector("audio");
  var text = root.dataset;
  var maxTries = parseInt(root.dataset.maxTries, 10) || 12;
  var waitScale = parseFloat(root.dataset.waitScale);
  if (!isFinite(waitScale) || waitScale < 0) {
    waitScale = 1;
  }
  var tries = 0;
  // Set while a fresh URL replaces one that failed: where to carry on, and that a second
  // failure in a row is shown instead of asked about again.
  var resumeAt = null;

  function show(state, message) {
    root.dataset.state = state;
    root.dataset.tries = String(tries);
    statusLine.textContent = message;
  }

  function waitMilliseconds(retryAfter) {
    var seconds = parseFloat(retryAfter);
    if (!isFinite(seconds) || seconds < 0) {
      seconds = 3;
    }
    // Backoff: 1x, 1.5x, 2.25x ... of Retry-After, at most 4x.
    var factor = Math.min(Math.pow(1.5, tries - 1), 4);
    return seconds * factor * 1000 * waitScale;
  }

  function retryOrStop(retryAfter, finalMessage) {
    if (tries >= maxTries) {
      show("error", finalMessage);
      return;
    }
    window.setTimeout(ask, waitMilliseconds(retryAfter));
  }

  function play(url) {
    if (resumeAt !== null) {
      var position = resumeAt;
      audio.addEventListener(
        "loadedmetadata",
        function () {
          audio.currentTime = position;
          resumeAt = null;
        },
        { once: true }
      );
    }
    audio.src = url;
    audio.hidden = false;
    show("ready", text.textReady);
    var playing = audio.play();
    if (playing && playing.catch) {
      // Autoplay may be refused without a click; the controls are there for it.
      playing.catch(function () {});
    }
  }

  function ask() {
    tries += 1;
    show("preparing", text.textPreparing + " (" + text.textAttempt + " " + tries + "/" + maxTries + ")");
    fetch(root.dataset.prepareUrl, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": root.dataset.csrfToken, Accept: "application/json" },
    })
      .then(function (response) {
        return response
          .json()
          .catch(function () {
            return {};
          })
          .then(function (body) {
            if (response.status === 200 && body.url) {
              play(body.url);
            } else if (response.status === 202) {
              retryOrStop(response.headers.get("Retry-After"), text.textGaveUp);
            } else if (response.status >= 500) {
              // The server could not start a download this time; a later try may.
              show("preparing", body.error || text.textFailed);
              retryOrStop(response.headers.get("Retry-After"), body.error || text.textFailed);
            } else {
              show("error", body.error || text.textFailed);
            }
          });
      })
      .catch(function () {
        retryOrStop(null, text.textNetwork);
      });
  }

  audio.addEventListener("error", function () {
    if (resumeAt !== null) {
      show("error", text.textFailed);
      return;
    }
    // Most likely the signed URL expired while the page stayed open (403): ask again.
    resumeAt = audio.currentTime || 0;
    tries = 0;
    ask();
  });

  ask();
})();
