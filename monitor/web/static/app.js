// Live: after each poll the monitor records, the page's live part is fetched again and put in
// place (the same HTML the server renders for the whole page), without a reload. The database's
// stamp is asked every few seconds; nothing is fetched while it has not changed.
(function () {
  "use strict";
  var live = document.getElementById("live");
  var said = document.getElementById("live-status");
  if (!live) { return; }
  var EVERY = Number(document.documentElement.dataset.refresh || 2000);
  var busy = false;

  function tell(text) { if (said) { said.textContent = text; } }

  function check() {
    if (busy || document.hidden) { return; }
    busy = true;
    fetch("/api/stamp", { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (got) {
        if (!got || got.stamp === live.dataset.stamp) { return null; }
        return fetch(location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Ordermon-Part": "live" } })
          .then(function (r) {
            if (!r.ok && r.status !== 503 && r.status !== 404) { return; }
            var stamp = r.headers.get("X-Ordermon-Stamp") || got.stamp;
            return r.text().then(function (html) {
              live.innerHTML = html;
              live.dataset.stamp = stamp;
              tell("Updated " + new Date().toLocaleTimeString() + " after a new poll.");
            });
          });
      })
      .catch(function () { tell("The dashboard's server does not answer; trying again."); })
      .then(function () { busy = false; });
  }
  setInterval(check, EVERY);
})();
