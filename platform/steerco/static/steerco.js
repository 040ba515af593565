/* Steerco's few behaviours, as data attributes instead of inline handlers (the
   Content-Security-Policy allows no inline script):
   - <form data-confirm="Question?">: ask before submitting (destructive actions);
   - <input data-select-on-focus>: select the whole value on focus (a token to copy);
   - <a data-back href="fallback">: go back in history when there is one. */
(function () {
  "use strict";
  document.addEventListener("submit", function (event) {
    var form = event.target.closest && event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      event.stopImmediatePropagation();
    }
  }, true);
  document.addEventListener("focusin", function (event) {
    if (event.target.matches && event.target.matches("[data-select-on-focus]")) {
      event.target.select();
    }
  });
  document.addEventListener("click", function (event) {
    var link = event.target.closest && event.target.closest("a[data-back]");
    if (link && window.history.length > 1) {
      event.preventDefault();
      window.history.back();
    }
  });
})();
