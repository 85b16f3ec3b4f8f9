// Small progressive enhancements for linktrack pages; every page works without them.
(function () {
  "use strict";
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
})();
