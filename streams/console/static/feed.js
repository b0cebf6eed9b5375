/* Live alert feed: opens EventSource('/events') and inserts each alert that matches the page's
   filters where the server would have put it (critical first, then newest first).
   Rows are built with DOM calls and textContent only: alert text is never parsed as HTML. */
(function () {
  "use strict";

  var table = document.getElementById("feed");
  var live = document.getElementById("live-status");
  if (!table || !live) { return; }
  if (!window.EventSource) {
    live.textContent = "Live updates are not supported by this browser; reload the page for new alerts.";
    return;
  }

  var tbody = table.tBodies[0];
  var empty = document.getElementById("feed-empty");
  var limit = parseInt(table.getAttribute("data-limit"), 10) || 200;
  var filters = {
    severities: (table.getAttribute("data-severities") || "").split(",").filter(Boolean),
    detector: table.getAttribute("data-detector") || "",
    rule: table.getAttribute("data-rule") || "",
    status: table.getAttribute("data-status") || ""
  };
  if (filters.status === "any") { filters.status = ""; }
  var rulePattern = glob(filters.rule);
  var VERDICTS = {
    true_positive: "True positive", false_positive: "False positive", unsure: "Unsure",
    wrong_severity: "Right, wrong severity", wrong_rule: "Right risk, wrong rule"
  };
  var hadError = false;

  function setLive(state, text) {
    live.setAttribute("data-state", state);
    live.textContent = text;
  }

  function matches(alert) {
    if (filters.severities.length && filters.severities.indexOf(alert.severity) < 0) { return false; }
    if (filters.detector && alert.detector !== filters.detector) { return false; }
    if (rulePattern && !rulePattern.test(alert.rule)) { return false; }
    if (filters.status && alert.status !== filters.status) { return false; }
    return true;
  }

  /* the rule filter as the server reads it: a glob (* any run, ? one character), else the exact name */
  function glob(pattern) {
    if (!pattern) { return null; }
    var source = pattern.replace(/[.+^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, ".");
    return new RegExp("^" + source + "$");
  }

  function pinned(severity) { return severity === "critical" ? 0 : 1; }

  function time(iso) {
    var parsed = Date.parse(iso);
    return isNaN(parsed) ? 0 : parsed;
  }

  /* true when the alert belongs above this row */
  function goesBefore(alert, row) {
    var a = pinned(alert.severity), b = pinned(row.getAttribute("data-severity"));
    if (a !== b) { return a < b; }
    return time(alert.created_at) >= time(row.getAttribute("data-created"));
  }

  function formatTime(iso) {
    var parsed = time(iso);
    if (!parsed) { return iso; }
    return new Date(parsed).toISOString().replace("T", " ").slice(0, 19) + " UTC";
  }

  function cell(row, child) {
    var td = document.createElement("td");
    if (child) { td.appendChild(child); }
    row.appendChild(td);
    return td;
  }

  function span(className, text) {
    var el = document.createElement("span");
    el.className = className;
    el.textContent = text;
    return el;
  }

  function buildRow(alert) {
    var row = document.createElement("tr");
    row.className = "alert-row sev-" + alert.severity + (alert.status === "resolved" ? " is-resolved" : "");
    row.setAttribute("data-alert-id", alert.alert_id);
    row.setAttribute("data-severity", alert.severity);
    row.setAttribute("data-detector", alert.detector);
    row.setAttribute("data-rule", alert.rule);
    row.setAttribute("data-status", alert.status);
    row.setAttribute("data-created", alert.created_at);

    cell(row, span("badge sev-" + alert.severity, alert.severity));
    var when = document.createElement("time");
    when.setAttribute("datetime", alert.created_at);
    when.textContent = formatTime(alert.created_at);
    cell(row, when);
    var link = document.createElement("a");
    link.href = "/alerts/" + encodeURIComponent(alert.alert_id);
    link.textContent = alert.summary;
    cell(row, link).className = "summary-cell";
    var code = document.createElement("code");
    code.textContent = alert.rule;
    cell(row, code);
    cell(row, document.createTextNode(alert.detector));
    cell(row, span("status status-" + alert.status, alert.status));
    cell(row, alert.verdict ? span("verdict verdict-" + alert.verdict, VERDICTS[alert.verdict] || alert.verdict)
                            : span("muted", "—"));
    return row;
  }

  function findRow(alertId) {
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      if (rows[i].getAttribute("data-alert-id") === alertId) { return rows[i]; }
    }
    return null;
  }

  function insert(row, alert) {
    var rows = tbody.rows;
    for (var i = 0; i < rows.length; i++) {
      if (goesBefore(alert, rows[i])) {
        tbody.insertBefore(row, rows[i]);
        return;
      }
    }
    tbody.appendChild(row);
  }

  function refreshEmpty() {
    if (empty) { empty.hidden = tbody.rows.length > 0; }
  }

  function onAlert(event) {
    var alert;
    try { alert = JSON.parse(event.data); } catch (e) { return; }
    if (!alert || typeof alert.alert_id !== "string") { return; }
    var existing = findRow(alert.alert_id);
    if (existing) { existing.parentNode.removeChild(existing); }
    if (matches(alert)) {
      var row = buildRow(alert);
      row.className += existing ? " is-updated" : " is-new";
      insert(row, alert);
      while (tbody.rows.length > limit) { tbody.deleteRow(tbody.rows.length - 1); }
      if (!existing) {
        setLive("live", "Live. New " + alert.severity + " alert at " + formatTime(alert.created_at) + ".");
      }
    }
    refreshEmpty();
  }

  var source = new EventSource("/events");
  setLive("connecting", "Live updates: connecting…");
  source.addEventListener("open", function () {
    setLive("live", hadError
      ? "Live again. Alerts raised while disconnected appear after a reload."
      : "Live: new alerts appear here.");
  });
  source.addEventListener("alert", onAlert);
  source.addEventListener("error", function () {
    hadError = true;
    if (source.readyState === EventSource.CLOSED) {
      setLive("down", "Live updates stopped (signed out?). Reload the page.");
    } else {
      setLive("down", "Live updates interrupted; reconnecting…");
    }
  });
}());
