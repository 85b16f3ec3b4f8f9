// Small progressive enhancements for linktrack pages; every page works without them.
(function () {
  "use strict";
  // A link that copies its data-copy-text (the links list's short URLs); without JavaScript, or
  // where the clipboard cannot be written, it stays a link to the page that shows the text.
  document.addEventListener("click", function (event) {
    var link = event.target.closest("[data-copy-text]");
    if (!link || !(navigator.clipboard && window.isSecureContext)) return;
    event.preventDefault();
    navigator.clipboard.writeText(link.getAttribute("data-copy-text")).then(function () {
      var label = link.textContent;
      link.textContent = "Copied";
      setTimeout(function () { link.textContent = label; }, 1500);
    }, function () { window.location.href = link.href; });
  });
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy-target]");
    if (!button) return;
    var input = document.getElementById(button.getAttribute("data-copy-target"));
    if (!input) return;
    var text = input.value || input.textContent;
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { input.select(); });
    } else {
      input.select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  });
})();
