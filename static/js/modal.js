// The #modal container: a dialog swapped in by htmx takes focus and keeps it (Tab cycles inside);
// Esc, a [data-close-modal] button or a click on the backdrop closes it and focus returns to the opener.
(function () {
  "use strict";
  var FOCUSABLE = "a[href], button:not([disabled]), input:not([disabled]):not([type=hidden]), select:not([disabled]), textarea:not([disabled]), [tabindex]:not([tabindex='-1'])";
  var opener = null;
  function modalRoot() { return document.getElementById("modal"); }
  function dialog() { var root = modalRoot(); return root && root.querySelector("[role=dialog]"); }
  function closeModal() {
    var root = modalRoot();
    if (!root || !root.firstElementChild) { return; }
    root.innerHTML = "";
    document.body.classList.remove("modal-open");
    var back = opener && document.body.contains(opener) ? opener : document.getElementById("main");
    if (back) { back.focus(); }
    opener = null;
  }
  function openDialog() {
    var box = dialog();
    if (!box) { return; }
    document.body.classList.add("modal-open");
    box.focus();  // the dialog itself first, so its title and message are read out
  }
  document.addEventListener("htmx:beforeRequest", function (evt) {
    if (!dialog() || !dialog().contains(evt.target)) { opener = document.activeElement; }
  });
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target === modalRoot()) { openDialog(); }
  });
  // A form inside the dialog that sends its request elsewhere (e.g. "Propose the first N" into the
  // workspace) closes the dialog once it worked; a refusal swaps a new dialog in instead.
  document.addEventListener("htmx:afterRequest", function (evt) {
    var box = dialog();
    var xhr = evt.detail.xhr;
    if (box && box.contains(evt.detail.elt) && xhr && xhr.status >= 200 && xhr.status < 300) { closeModal(); }
  });
  document.addEventListener("keydown", function (evt) {
    var box = dialog();
    if (!box) { return; }
    if (evt.key === "Escape") { evt.preventDefault(); closeModal(); return; }
    if (evt.key !== "Tab") { return; }
    var items = box.querySelectorAll(FOCUSABLE);
    if (!items.length) { evt.preventDefault(); box.focus(); return; }
    var first = items[0], last = items[items.length - 1], here = document.activeElement;
    if (!box.contains(here)) { evt.preventDefault(); first.focus(); }
    else if (evt.shiftKey && (here === first || here === box)) { evt.preventDefault(); last.focus(); }
    else if (!evt.shiftKey && here === last) { evt.preventDefault(); first.focus(); }
  });
  document.addEventListener("click", function (evt) {
    var target = evt.target;
    if (target.closest("[data-close-modal]") || target.matches("[data-modal]")) { closeModal(); }
  });
})();
