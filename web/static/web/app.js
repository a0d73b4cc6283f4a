// copytrade pages: the little that needs a script, loaded from this origin (the CSP allows
// no inline script). Every page works without it; it only adds convenience.
(function () {
  "use strict";

  // Copy a shown-once secret: <button data-copy-target="id-of-input">.
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var source = document.getElementById(button.getAttribute("data-copy-target"));
    if (!source) return;
    var text = source.value !== undefined ? source.value : source.textContent;
    var done = function () {
      var original = button.getAttribute("data-label") || button.textContent;
      button.setAttribute("data-label", original);
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = original; }, 2000);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { source.select(); });
    } else {
      source.select();
      document.execCommand("copy");
      done();
    }
  });

  // Ask before an irreversible action: <form data-confirm="Delete this account?">.
  document.addEventListener("submit", function (event) {
    var message = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (message && !window.confirm(message)) event.preventDefault();
  });

  // A slider and the number field it mirrors: <input type="range" data-sync="id-of-number">.
  // The number is the form's field (typed exactly, works without this script); moving the
  // slider sets it and fires its input event, so the allocation preview refreshes (htmx).
  document.addEventListener("input", function (event) {
    var target = event.target;
    var partnerId = target.getAttribute && target.getAttribute("data-sync");
    if (partnerId) {
      var number = document.getElementById(partnerId);
      if (number) {
        number.value = target.value;
        number.dispatchEvent(new Event("input", { bubbles: true }));
      }
      return;
    }
    if (target.id) {
      var slider = document.querySelector('[data-sync="' + target.id + '"]');
      if (slider && target.value !== "") slider.value = target.value;
    }
  });

  // The account menu closes on Escape and on a click elsewhere.
  function closeMenus(except) {
    document.querySelectorAll("details.account-menu[open]").forEach(function (menu) {
      if (menu !== except) menu.removeAttribute("open");
    });
  }
  document.addEventListener("click", function (event) {
    closeMenus(event.target.closest("details.account-menu"));
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") closeMenus(null);
  });
})();
