/* "Testar o bot": keep the chat scrolled to the newest message, keep a reply's open trace
   open across refreshes, show the composer's own error answers (422, 503), send on Enter. */
(function () {
  "use strict";
  var openTraces = {};

  function thread() { return document.getElementById("sandbox-thread"); }

  function nearBottom(el) { return el.scrollHeight - el.scrollTop - el.clientHeight < 80; }

  document.addEventListener("toggle", function (ev) {
    var el = ev.target;
    if (!el.matches || !el.matches("details[data-trace]")) { return; }
    var row = el.closest(".trace-row");
    var key = row && row.previousElementSibling ? row.previousElementSibling.getAttribute("data-message-id") : "";
    if (key) { openTraces[key] = el.open; }
  }, true);

  var stick = true;
  document.addEventListener("htmx:beforeSwap", function (ev) {
    var target = ev.detail.target;
    if (target && target.id === "sandbox-thread") { stick = nearBottom(target); }
    /* the composer answers 422 / 503 with itself, the typed text kept and the error shown */
    if (target && target.id === "sandbox-composer") {
      var status = ev.detail.xhr.status;
      if (status === 422 || status === 503) { ev.detail.shouldSwap = true; ev.detail.isError = false; }
    }
  });

  function settle() {
    var el = thread();
    if (!el) { return; }
    el.querySelectorAll("details[data-trace]").forEach(function (d) {
      var row = d.closest(".trace-row");
      var key = row && row.previousElementSibling ? row.previousElementSibling.getAttribute("data-message-id") : "";
      if (key && openTraces[key]) { d.open = true; }
    });
    if (stick) { el.scrollTop = el.scrollHeight; }
  }

  document.addEventListener("htmx:afterSettle", function (ev) {
    var elt = ev.detail.elt;
    if (elt && (elt.id === "sandbox-thread" || elt.id === "sandbox-composer")) { settle(); }
    if (elt && elt.id === "sandbox-composer") {
      var box = document.getElementById("sandbox-text");
      if (box) { box.focus(); }
    }
  });

  document.addEventListener("keydown", function (ev) {
    var box = ev.target;
    if (!box || box.id !== "sandbox-text" || ev.key !== "Enter" || ev.shiftKey || ev.isComposing) { return; }
    ev.preventDefault();
    var form = box.form;
    if (form && box.value.trim()) { form.requestSubmit(); }
  });

  settle();
})();
