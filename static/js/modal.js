// The #modal container: focus the dialog when htmx swaps one in; close it with Esc or a close button.
(function () {
  "use strict";
  var opener = null;
  function modalRoot() { return document.getElementById("modal"); }
  function closeModal() {
    var root = modalRoot();
    if (!root || !root.firstElementChild) { return; }
    root.innerHTML = "";
    if (opener && document.body.contains(opener)) { opener.focus(); }
    opener = null;
  }
  function focusDialog() {
    var dialog = modalRoot() && modalRoot().querySelector("[role=dialog]");
    if (dialog) {
      var first = dialog.querySelector("a[href], button, input, select, textarea") || dialog;
      dialog.focus();
      if (first !== dialog) { first.focus(); }
    }
  }
  document.addEventListener("htmx:beforeRequest", function () { opener = document.activeElement; });
  document.addEventListener("htmx:afterSwap", function (evt) {
    if (evt.detail.target === modalRoot()) { focusDialog(); }
  });
  document.addEventListener("keydown", function (evt) {
    if (evt.key === "Escape") { closeModal(); return; }
    if (evt.key !== "Tab") { return; }
    var dialog = modalRoot() && modalRoot().querySelector("[role=dialog]");
    if (!dialog) { return; }
    var items = dialog.querySelectorAll("a[href], button:not([disabled]), input:not([disabled]), select, textarea");
    if (!items.length) { return; }
    var first = items[0], last = items[items.length - 1];
    if (evt.shiftKey && document.activeElement === first) { last.focus(); evt.preventDefault(); }
    else if (!evt.shiftKey && document.activeElement === last) { first.focus(); evt.preventDefault(); }
  });
  document.addEventListener("click", function (evt) {
    var target = evt.target;
    if (target.closest("[data-close-modal]") || target.matches("[data-modal]")) { closeModal(); }
  });
})();
