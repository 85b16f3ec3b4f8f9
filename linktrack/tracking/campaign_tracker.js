// CampaignTracker: reports conversions from a landing page to linktrack. No dependencies.
// Every call returns a Promise that resolves (never rejects) with {ok: true, conversion}
// or {ok: false, reason, error}; nothing here throws into the page.
(function (w) {
  "use strict";
  if (w.CampaignTracker) return;
  var BASE = __BASE_URL__, WINDOW_DAYS = __WINDOW_DAYS__;
  var KEYS = ["ct_tracking_id", "ct_campaign_link_id"], STORE = "ct_attribution";
  var DAY = 864e5, RETRIES = 3;
  // A click is stored up to a moment after its redirect, and a conversion sent at once to another
  // linktrack process can arrive first: unknown_tracking_id is tried again after these waits (ms),
  // with the same body and so the same event_id (a replay is never counted twice).
  var UNKNOWN_WAITS = [250, 500, 1000, 2000];

  function warn(message) {
    try { w.console && console.warn("[CampaignTracker] " + message); } catch (e) {}
  }
  function storage(kind) {
    try { var s = w[kind]; s.setItem("ct_probe", "1"); s.removeItem("ct_probe"); return s; } catch (e) { return null; }
  }
  function read(kind) {
    var s = storage(kind);
    try {
      var a = s && JSON.parse(s.getItem(STORE));
      if (a && a.tracking_id && a.campaign_link_id && (!a.expires || a.expires > Date.now())) return a;
      if (a && s) s.removeItem(STORE);
    } catch (e) {}
    return null;
  }
  // True when at least one storage kept it.
  function write(a) {
    var kept = false;
    ["sessionStorage", "localStorage"].forEach(function (kind) {
      var s = storage(kind);
      try { if (s) { s.setItem(STORE, JSON.stringify(a)); kept = true; } } catch (e) {}
    });
    return kept;
  }
  function forget() {
    ["sessionStorage", "localStorage"].forEach(function (kind) {
      var s = storage(kind);
      try { s && s.removeItem(STORE); } catch (e) {}
    });
  }
  function fromUrl() {
    try {
      var p = new URLSearchParams(w.location.search), t = p.get(KEYS[0]), l = p.get(KEYS[1]);
      if (t && l) return { tracking_id: t, campaign_link_id: l, expires: Date.now() + (WINDOW_DAYS + 1) * DAY };
    } catch (e) {}
    return null;
  }
  // The ct_ parameters leave the address bar once stored, so a visitor who shares the URL does not
  // share the attribution. The rest of the query is kept byte for byte, and the fragment too.
  function cleanUrl() {
    try {
      var loc = w.location, h = w.history;
      if (!h || typeof h.replaceState !== "function") return;
      var kept = loc.search.replace(/^\?/, "").split("&").filter(function (part) {
        var name = part.split("=")[0];
        try { name = decodeURIComponent(name.replace(/\+/g, " ")); } catch (e) {}
        return part !== "" && KEYS.indexOf(name) < 0;
      });
      h.replaceState(h.state, "", loc.pathname + (kept.length ? "?" + kept.join("&") : "") + loc.hash);
    } catch (e) {}
  }
  // Last click wins: parameters in the URL replace whatever was stored. If nothing could store
  // them, they stay in the URL, so a reload of the page still attributes.
  var current = fromUrl();
  if (current && write(current)) cleanUrl();

  function getAttribution() {
    var a = current || read("sessionStorage") || read("localStorage");
    return a ? { tracking_id: a.tracking_id, campaign_link_id: a.campaign_link_id } : null;
  }
  function eventId() {
    try { if (w.crypto && crypto.randomUUID) return crypto.randomUUID(); } catch (e) {}
    return "ct-" + Date.now().toString(36) + "-" + Math.random().toString(36).slice(2, 12);
  }
  function wait(ms) {
    return new Promise(function (done) { setTimeout(done, ms); });
  }
  function send(body, attempt, unknownTries) {
    unknownTries = unknownTries || 0;
    return fetch(BASE + "/api/conversions", {
      method: "POST", mode: "cors", credentials: "omit", keepalive: true,
      headers: { "Content-Type": "application/json" }, body: JSON.stringify(body)
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (r.ok) {
          if (data.window_expires_at) {
            var a = getAttribution();
            if (a) { a.expires = Date.parse(data.window_expires_at); write(a); }
          }
          return { ok: true, conversion: data };
        }
        var err = data.error || { code: "http_" + r.status, message: "HTTP " + r.status };
        if (r.status >= 500 && attempt < RETRIES) return retry(body, attempt, unknownTries);
        if (err.code === "unknown_tracking_id" && unknownTries < UNKNOWN_WAITS.length) {
          return wait(UNKNOWN_WAITS[unknownTries]).then(function () { return send(body, attempt, unknownTries + 1); });
        }
        if (err.code === "attribution_window_expired" || err.code === "unknown_tracking_id") forget();
        warn(err.message || err.code);
        return { ok: false, reason: err.code, error: err };
      });
    }, function (e) {
      if (attempt < RETRIES) return retry(body, attempt, unknownTries);
      warn("network error: " + (e && e.message));
      return { ok: false, reason: "network_error", error: { code: "network_error", message: String(e && e.message) } };
    });
  }
  function retry(body, attempt, unknownTries) {
    return wait(300 * Math.pow(3, attempt)).then(function () { return send(body, attempt + 1, unknownTries); });
  }
  function track(eventType, options) {
    try {
      options = options || {};
      var a = getAttribution();
      if (!a) {
        warn("no attribution: this visitor did not arrive through a linktrack link, so '" + eventType + "' is not recorded.");
        return Promise.resolve({ ok: false, reason: "no_attribution" });
      }
      var body = { tracking_id: a.tracking_id, campaign_link_id: a.campaign_link_id, event_type: eventType,
        event_id: options.eventId || eventId() };
      if (options.revenue != null) body.revenue_amount = options.revenue;
      if (options.currency) body.currency = options.currency;
      if (options.eventData) body.event_data = options.eventData;
      if (typeof fetch !== "function") return Promise.resolve({ ok: false, reason: "unsupported_browser" });
      return send(body, 0);
    } catch (e) {
      warn("could not track '" + eventType + "': " + (e && e.message));
      return Promise.resolve({ ok: false, reason: "error", error: { code: "error", message: String(e && e.message) } });
    }
  }
  function withRevenue(revenue, options) {
    var o = {}, k;
    options = options || {};
    for (k in options) if (Object.prototype.hasOwnProperty.call(options, k)) o[k] = options[k];
    if (revenue != null) o.revenue = revenue;
    return o;
  }

  w.CampaignTracker = {
    track: track,
    trackNewsletterSignup: function (options) { return track("newsletter_signup", options); },
    trackCourseEnrollment: function (options) { return track("course_enrollment", options); },
    trackPurchase: function (revenue, options) { return track("purchase", withRevenue(revenue, options)); },
    getAttribution: getAttribution
  };
})(window);
