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
    var text = "value" in input ? input.value : input.textContent;
    var select = function () {  // a field selects itself; a <pre> of examples is selected as a range
      if (input.select) return input.select();
      var range = document.createRange();
      range.selectNodeContents(input);
      window.getSelection().removeAllRanges();
      window.getSelection().addRange(range);
    };
    var done = function () {
      var label = button.textContent;
      button.textContent = "Copied";
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, select);
    } else {
      select();
      try { document.execCommand("copy"); done(); } catch (e) { /* the text stays selected */ }
    }
  });

  // Destructive buttons (forms with data-confirm) ask in a dialog; confirmed, they send confirm=yes
  // and act at once. Without this script the server answers a page that asks again (web/confirm.py).
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.hasAttribute || !form.hasAttribute("data-confirm")) return;
    if (!window.confirm(form.getAttribute("data-confirm"))) {
      event.preventDefault();
      return;
    }
    if (!form.querySelector('input[name="confirm"]')) {
      var input = document.createElement("input");
      input.type = "hidden";
      input.name = "confirm";
      input.value = "yes";
      form.appendChild(input);
    }
  });

  // Parts of a form that apply to one choice only (data-shown-when="field=value") are shown while that
  // value is chosen; without this script every part stays visible, each labelled with its choice.
  function showChosenParts(form) {
    form.querySelectorAll("[data-shown-when]").forEach(function (part) {
      var rule = part.getAttribute("data-shown-when").split("=");
      var chooser = form.elements[rule[0]];
      if (chooser) part.hidden = chooser.value !== rule[1];
    });
  }
  document.querySelectorAll("form").forEach(function (form) {
    if (!form.querySelector("[data-shown-when]")) return;
    showChosenParts(form);
    form.addEventListener("change", function () { showChosenParts(form); });
  });
})();
