/* The queue: keyboard navigation (j/k, Enter, /) and live refresh. When the live feed reports an
   alert, the rows are fetched again from /queue/rows with the page's filters (debounced), so the
   queue and the alert pages always show what the store holds. No alert text is parsed as HTML here:
   the server renders the rows with escaping. */
(function () {
  "use strict";

  var table = document.getElementById("queue");
  var live = document.getElementById("live-status");
  var empty = document.getElementById("queue-empty");
  if (!table) { return; }
  var tbody = table.tBodies[0];
  var current = -1;

  function rows() { return tbody.querySelectorAll("tr.queue-row"); }

  function select(index) {
    var list = rows();
    if (!list.length) { current = -1; return; }
    current = Math.max(0, Math.min(index, list.length - 1));
    for (var i = 0; i < list.length; i++) { list[i].classList.toggle("is-selected", i === current); }
    list[current].focus();
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA")) { return; }
    if (event.key === "j") { select(current + 1); event.preventDefault(); }
    else if (event.key === "k") { select(current - 1); event.preventDefault(); }
    else if (event.key === "Enter" && current >= 0) {
      var row = rows()[current];
      if (row) { window.location.href = row.getAttribute("data-href"); }
    } else if (event.key === "/") {
      var rule = document.getElementById("q-rule");
      if (rule) { rule.focus(); event.preventDefault(); }
    }
  });

  tbody.addEventListener("click", function (event) {
    var row = event.target.closest("tr.queue-row");
    if (row && event.target.tagName !== "A") { window.location.href = row.getAttribute("data-href"); }
  });

  if (!window.EventSource || !live || !window.fetch) { return; }
  var pending = null;

  function refresh() {
    pending = null;
    var query = table.getAttribute("data-query");
    fetch("/queue/rows" + (query ? "?" + query : ""), { credentials: "same-origin" })
      .then(function (response) { return response.ok ? response.text() : Promise.reject(response.status); })
      .then(function (html) {
        var selected = current >= 0 && rows()[current] ? rows()[current].getAttribute("data-conversation") : null;
        tbody.innerHTML = html;  // server-rendered, escaped rows
        if (empty) { empty.hidden = rows().length > 0; }
        live.setAttribute("data-state", "live");
        live.textContent = "Live: updated " + new Date().toISOString().slice(11, 19) + " UTC.";
        if (selected) {
          var list = rows();
          for (var i = 0; i < list.length; i++) {
            if (list[i].getAttribute("data-conversation") === selected) { current = i; list[i].classList.add("is-selected"); }
          }
        }
      })
      .catch(function () { live.setAttribute("data-state", "down"); live.textContent = "Live refresh failed; reload the page."; });
  }

  var source = new EventSource("/events");
  live.setAttribute("data-state", "connecting");
  live.textContent = "Live updates: connecting…";
  source.addEventListener("open", function () {
    live.setAttribute("data-state", "live");
    live.textContent = "Live: the queue refreshes as alerts arrive.";
  });
  source.addEventListener("alert", function () {
    if (pending === null) { pending = window.setTimeout(refresh, 300); }
  });
  source.addEventListener("error", function () {
    live.setAttribute("data-state", "down");
    live.textContent = source.readyState === EventSource.CLOSED
      ? "Live updates stopped (signed out?). Reload the page."
      : "Live updates interrupted; reconnecting…";
  });
}());
