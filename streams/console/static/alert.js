/* Alert page keys: a acknowledge, r resolve, t take, v verdict, n/p the conversation's next/previous
   alert (worst first, as #conversation-nav links them), q back to the queue. And the verdict form: the
   "right severity" / "right rule" choice is enabled only with the verdict that needs it.
   Live: when the live feed reports this alert changed (it escalated, was reopened, someone else acted),
   a notice asks for a reload and the action keys are off until then, so nobody acts on what they have
   not seen. Text from the feed goes in with textContent only. */
(function () {
  "use strict";

  var bar = document.getElementById("action-bar");
  var page = document.getElementById("alert");
  var nav = document.getElementById("conversation-nav");
  var changed = false;

  function typing(target) {
    return target && (target.tagName === "INPUT" || target.tagName === "SELECT" || target.tagName === "TEXTAREA");
  }

  document.addEventListener("keydown", function (event) {
    if (typing(event.target) || event.ctrlKey || event.metaKey || event.altKey) { return; }
    var key = event.key;
    if (key === "q") { window.location.href = "/"; return; }
    if (key === "n" || key === "p") {
      var link = nav ? nav.querySelector("a[data-key='" + key + "']") : null;
      if (link) { event.preventDefault(); window.location.href = link.getAttribute("href"); }
      return;
    }
    if (!bar || changed) { return; }
    var target = bar.querySelector("[data-key='" + key + "']");
    if (!target) { return; }
    event.preventDefault();
    if (target.tagName === "FORM") { target.submit(); }
    else {
      var verdict = document.getElementById("verdict-h");
      if (verdict) { verdict.scrollIntoView(); var first = document.querySelector("input[name=verdict]"); if (first) { first.focus(); } }
    }
  });

  var severity = document.getElementById("corrected-severity");
  var rule = document.getElementById("corrected-rule");
  function sync() {
    var chosen = document.querySelector("input[name=verdict]:checked");
    var value = chosen ? chosen.value : "";
    if (severity) { severity.disabled = value !== "wrong_severity"; }
    if (rule) { rule.disabled = value !== "wrong_rule"; }
  }
  var radios = document.querySelectorAll("input[name=verdict]");
  for (var i = 0; i < radios.length; i++) { radios[i].addEventListener("change", sync); }
  sync();

  var notice = document.getElementById("alert-changed");
  var what = document.getElementById("alert-changed-what");
  if (!page || !notice || !what || !window.EventSource) { return; }
  var shown = {
    severity: page.getAttribute("data-severity"),
    status: page.getAttribute("data-status"),
    verdict: page.getAttribute("data-verdict") || null
  };
  var source = new EventSource("/events");
  source.addEventListener("open", function () { page.setAttribute("data-live", "open"); });
  source.addEventListener("error", function () { page.setAttribute("data-live", "down"); });
  source.addEventListener("alert", function (event) {
    var alert;
    try { alert = JSON.parse(event.data); } catch (e) { return; }
    if (!alert || alert.alert_id !== page.getAttribute("data-alert-id")) { return; }
    var verdict = alert.verdict || null;
    if (alert.severity === shown.severity && alert.status === shown.status && verdict === shown.verdict) { return; }
    changed = true;
    page.setAttribute("data-changed", "true");
    what.textContent = "now " + alert.severity + ", " + alert.status +
      (verdict ? ", verdict " + verdict : (shown.verdict ? ", the earlier verdict no longer applies" : ""));
    notice.hidden = false;
    if (bar) { bar.classList.add("is-stale"); }
  });
  window.addEventListener("pagehide", function () { source.close(); });
}());
