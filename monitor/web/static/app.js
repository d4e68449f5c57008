// Live: after each poll the monitor records, the page's live part is fetched again and put in
// place (the same HTML the server renders for the whole page), without a reload. The database's
// stamp is asked every few seconds; nothing is fetched while it has not changed, except on a page
// that depends on the time too (health: polls that stop change nothing in the database).
(function () {
  "use strict";
  var live = document.getElementById("live");
  var said = document.getElementById("live-status");
  if (!live) { return; }
  var EVERY = 2000, MOST = 30000;
  var wait = EVERY;

  function tell(text) { if (said) { said.textContent = text; } }

  function answered(r) {
    if (r.status === 401) { throw new Error("signed out: reload the page to sign in again"); }
    return r;
  }

  function refresh(stamp) {
    return fetch(location.href, { credentials: "same-origin", cache: "no-store", headers: { "X-Ordermon-Part": "live" } })
      .then(answered)
      .then(function (r) {
        if (!r.ok && r.status !== 503 && r.status !== 404) { throw new Error("the server answered " + r.status); }
        return r.text().then(function (html) {
          live.innerHTML = html;
          live.dataset.stamp = r.headers.get("X-Ordermon-Stamp") || stamp;
          if (stamp !== undefined) { tell("Updated " + new Date().toLocaleTimeString() + " after a new poll."); }
        });
      });
  }

  function check() {
    if (document.hidden) { setTimeout(check, wait); return; }
    fetch("/api/stamp", { credentials: "same-origin", cache: "no-store" })
      .then(answered)
      .then(function (r) { if (!r.ok) { throw new Error("the server answered " + r.status); } return r.json(); })
      .then(function (got) {
        if (got.stamp !== live.dataset.stamp) { return refresh(got.stamp); }
        if ("always" in live.dataset) { return refresh(); }
      })
      .then(function () { wait = EVERY; })
      .catch(function (error) {
        wait = Math.min(wait * 2, MOST);  // a server in trouble is not asked every 2 s
        tell(error.message.indexOf("signed out") === 0 ? error.message
          : "The dashboard's server does not answer (" + error.message + "); trying again.");
      })
      .then(function () { setTimeout(check, wait); });
  }
  setTimeout(check, wait);
})();
