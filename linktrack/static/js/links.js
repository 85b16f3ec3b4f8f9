// Live preview on the link form: asks the server (POST .../preview) what the final destination
// will be, so the page and the API share one query builder. The Preview button does the same
// without JavaScript.
(function () {
  "use strict";
  var form = document.querySelector("form[data-link-preview]");
  if (!form || !window.fetch) return;
  var output = document.querySelector("[data-preview-url]");
  var empty = document.querySelector("[data-preview-empty]");
  var code = document.querySelector("[data-preview-code]");
  var problemList = document.querySelector("[data-preview-problems]");
  var token = form.querySelector("input[name=csrf_token]");
  var defaults = ["utm_source", "utm_medium", "utm_campaign", "utm_content"];
  var timer = null;

  function values() {
    var body = {};
    ["video_url", "destination_url", "campaign", "short_code", "utm_source", "utm_medium",
     "utm_campaign", "utm_content", "utm_term"].forEach(function (name) {
      var input = form.elements[name];
      if (input) body[name] = input.value.trim() || null;  // empty: the default
    });
    var days = form.elements.attribution_window_days;
    if (days && /^\d+$/.test(days.value.trim())) body.attribution_window_days = parseInt(days.value, 10);
    var origins = form.elements.allowed_origins;
    if (origins) body.allowed_origins = origins.value.split(/[\s,]+/).filter(Boolean);
    return body;
  }

  function show(result) {
    defaults.forEach(function (name) {
      var input = form.elements[name];
      if (input && result[name]) input.placeholder = result[name];
    });
    var problems = result.problems || [];
    var badCode = problems.some(function (problem) { return problem.field === "short_code"; });
    if (code) {
      // A refused code (reserved like "login", taken, malformed) is never shown as the link's address.
      var typed = form.elements.short_code && form.elements.short_code.value.trim();
      code.textContent = badCode ? "…" : (typed || code.getAttribute("data-initial") || "…");
    }
    if (problemList) {
      problemList.textContent = "";
      problems.forEach(function (problem) {
        var item = document.createElement("li");
        var link = document.createElement("a");
        link.href = "#" + problem.field;
        link.textContent = problem.message;
        item.appendChild(link);
        problemList.appendChild(item);
      });
      problemList.hidden = problems.length === 0;
    }
    var url = problems.length === 0 ? result.final_destination_url : null;
    output.textContent = url || "";
    output.hidden = !url;
    if (empty) empty.hidden = Boolean(url);
  }

  function refresh() {
    fetch(form.getAttribute("data-link-preview"), {
      method: "POST",
      credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRFToken": token ? token.value : ""},
      body: JSON.stringify(values())
    }).then(function (response) {
      return response.ok ? response.json() : null;
    }).then(function (result) {
      if (result) show(result);
    }).catch(function () { /* the Preview button still works */ });
  }

  if (code) code.setAttribute("data-initial", code.textContent === "…" ? "" : code.textContent);
  form.addEventListener("input", function () {
    clearTimeout(timer);
    timer = setTimeout(refresh, 350);
  });
})();
