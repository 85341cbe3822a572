// Small progressive enhancements; every form works without them.
(function () {
  "use strict";
  // An error answer that names its target (HX-Retarget: the error handler's #modal, or a form's own
  // fragment re-rendered with field errors) is swapped; other 4xx/5xx keep htmx's default (no swap).
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var xhr = evt.detail.xhr;
    if (evt.detail.isError && xhr && xhr.getResponseHeader("HX-Retarget")) {
      evt.detail.shouldSwap = true;
      evt.detail.isError = false;
    }
  });

  // After the workspace is re-rendered, put focus somewhere useful instead of losing it to <body>:
  // the first invalid field; else, after a row's button, the same button of the row now in its place
  // (so committing row after row needs no scrolling back); else the control used (same id); else the notice.
  var before = null;
  document.addEventListener("htmx:beforeRequest", function () {
    var here = document.activeElement;
    before = { id: here && here.id ? here.id : null, rowButton: null, index: -1 };
    if (here && here.tagName === "BUTTON" && here.name && here.closest("tbody")) {
      var same = Array.prototype.slice.call(document.querySelectorAll("#workspace button[name='" + here.name + "']"));
      before.rowButton = here.name;
      before.index = same.indexOf(here);
    }
  });
  document.addEventListener("htmx:afterSettle", function (evt) {
    // outerHTML swaps replace the target: look the new #workspace up by id
    if (!evt.detail.target || evt.detail.target.id !== "workspace" || !before) { return; }
    var root = document.getElementById("workspace");
    if (!root) { return; }
    var target = root.querySelector("[aria-invalid=true]");
    if (!target && before.rowButton) {
      var rows = root.querySelectorAll("button[name='" + before.rowButton + "']");
      target = rows[Math.min(before.index, rows.length - 1)] || null;
    }
    target = target || (before.id && document.getElementById(before.id)) ||
      document.getElementById("workspace-notice") || document.getElementById("workspace-error");
    before = null;
    if (target) { target.focus(); }
  });

  // "Select all" boxes tick every box of the same name in their form.
  document.addEventListener("change", function (evt) {
    var all = evt.target.closest("[data-select-all]");
    if (!all) { return; }
    var boxes = all.form.querySelectorAll("input[type=checkbox][name='" + all.dataset.selectAll + "']");
    boxes.forEach(function (box) { box.checked = all.checked; });
  });

  // While a request runs, its form's buttons are busy (no double submits).
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = evt.target.closest("form");
    if (form) { form.setAttribute("aria-busy", "true"); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.target.closest && evt.target.closest("form");
    if (form) { form.removeAttribute("aria-busy"); }
  });
})();
