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

  function workspace() { return document.getElementById("workspace"); }

  // Field errors and action notes belong to the request that made them: the next answer that does not
  // re-render the workspace (a paywall modal, say) clears them, so no stale warning sits beside it.
  function clearMarks(root) {
    root.querySelectorAll(".field-error, .inline-status").forEach(function (el) { el.remove(); });
    root.querySelectorAll("[aria-invalid]").forEach(function (el) {
      el.removeAttribute("aria-invalid");
      el.removeAttribute("aria-describedby");
    });
    root.querySelectorAll(".has-error").forEach(function (el) { el.classList.remove("has-error"); });
  }
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var root = workspace();
    if (root && evt.detail.target !== root && root.contains(evt.detail.requestConfig && evt.detail.requestConfig.elt)) {
      clearMarks(root);
    }
  });

  // The file chosen for an import survives an answer that shows an error (the input is re-rendered).
  var chosenFiles = null;
  document.addEventListener("htmx:beforeSwap", function (evt) {
    var input = document.getElementById("csv-file");
    chosenFiles = input && input.files && input.files.length ? input.files : null;
  });
  document.addEventListener("htmx:afterSettle", function (evt) {
    var input = document.getElementById("csv-file");
    var failed = evt.detail.xhr && evt.detail.xhr.status >= 400;
    if (chosenFiles && input && failed && !input.files.length) {
      try { input.files = chosenFiles; } catch (e) { /* a browser without assignable FileList keeps the message */ }
    }
    chosenFiles = null;
  });

  // After the workspace is re-rendered, put focus somewhere useful without moving the page: the first
  // invalid field; else, after a row's button, the same button of the row now in its place (so committing
  // row after row needs no scrolling back); else the control used (same id); else what the answer marks.
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
    var root = workspace();
    if (!root) { return; }
    var target = root.querySelector("[aria-invalid=true]");
    if (!target && before.rowButton) {
      var rows = root.querySelectorAll("button[name='" + before.rowButton + "']");
      target = rows[Math.min(before.index, rows.length - 1)] || null;
    }
    target = target || (before.id && document.getElementById(before.id)) || root.querySelector("[data-focus-next]");
    before = null;
    if (target) { target.focus({ preventScroll: !isOffScreen(target) }); }
    // The action's note sits beside it; if it landed just outside the window, bring it in by the least scroll.
    var note = root.querySelector(".inline-status");
    if (note && !target) { note.scrollIntoView({ block: "nearest" }); }
    else if (note && !isOffScreen(target)) { nudgeIntoView(note); }
  });
  function nudgeIntoView(el) {
    var box = el.getBoundingClientRect();
    if (box.bottom > window.innerHeight) { window.scrollBy(0, Math.min(box.bottom - window.innerHeight + 8, box.top)); }
    else if (box.top < 0) { window.scrollBy(0, box.top - 8); }
  }
  function isOffScreen(el) {
    var box = el.getBoundingClientRect();
    return box.bottom < 0 || box.top > window.innerHeight;
  }

  // "Select all" boxes tick every box of the same name in their form.
  document.addEventListener("change", function (evt) {
    var all = evt.target.closest("[data-select-all]");
    if (!all) { return; }
    var boxes = all.form.querySelectorAll("input[type=checkbox][name='" + all.dataset.selectAll + "']");
    boxes.forEach(function (box) { box.checked = all.checked; });
  });

  // While a request runs, its form is busy and the button that sent it says so (aria-busy, spinner);
  // a second submit of a busy form is dropped, so nothing is sent twice.
  function sender(evt) {
    var elt = evt.detail.elt;
    if (elt && elt.tagName === "BUTTON") { return elt; }
    var trigger = evt.detail.requestConfig && evt.detail.requestConfig.triggeringEvent;
    return (trigger && trigger.submitter) || (elt && elt.querySelector && elt.querySelector("button[type=submit]")) || null;
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    var form = evt.target.closest && evt.target.closest("form");
    if (form && form.getAttribute("aria-busy") === "true") { evt.preventDefault(); return; }
    if (form) { form.setAttribute("aria-busy", "true"); }
    var button = sender(evt);
    if (button) { button.setAttribute("aria-busy", "true"); }
  });
  document.addEventListener("htmx:afterRequest", function (evt) {
    var form = evt.target.closest && evt.target.closest("form");
    if (form) { form.removeAttribute("aria-busy"); }
    var button = sender(evt);
    if (button) { button.removeAttribute("aria-busy"); }
  });
})();
