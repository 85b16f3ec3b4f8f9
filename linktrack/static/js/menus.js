// The collapsible parts of a page (<details class="wide-open">: the main menu, the range picker's custom
// dates) are always open on a wide screen. app.css does that where a browser can style a closed
// <details>'s content (::details-content); elsewhere this opens them on a wide screen. Without
// JavaScript they still open with a tap.
(function () {
  "use strict";
  if (!window.matchMedia || (window.CSS && CSS.supports && CSS.supports("selector(::details-content)"))) return;
  var wide = window.matchMedia("(min-width: 641px)");
  function openOnWide() {
    if (!wide.matches) return;
    document.querySelectorAll("details.wide-open").forEach(function (details) { details.open = true; });
  }
  openOnWide();
  if (wide.addEventListener) wide.addEventListener("change", openOnWide);
})();
