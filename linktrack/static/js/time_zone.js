// Registration: fill the hidden time zone field with the browser's IANA zone, so a new creator's
// reports count their own days from the start. Without JavaScript (or an odd browser) the field
// stays empty and the account starts in UTC; the zone can be changed in Settings.
(function () {
  "use strict";
  var zone = "";
  try {
    zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  } catch (e) { /* no Intl: UTC */ }
  var fields = document.querySelectorAll("input[data-browser-time-zone]");
  for (var i = 0; i < fields.length; i++) {
    if (!fields[i].value) fields[i].value = zone;
  }
})();
