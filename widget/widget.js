// tracker widget: case links become live cards, lookup placeholders a form. A guest on others'
// pages: textContent only, no storage, never throws; on failure the plain link stays.
(function () {
"use strict";

var TEXT = {
  stages: { received: "Received", in_progress: "In progress", resolved: "Resolved", closed: "Closed" },
  owners: { customer: "You", company: "Support team", third_party: "Third party" },
  you: "Waiting on you",
  youDetail: "The team needs something from you to go on.",
  company: "The support team is working on it",
  thirdParty: "Waiting on a third party",
  done: "This case is ",
  stepper: "Progress of the case",
  status: "Status: ",
  progress: "Progress",
  expected: "Expected by ",
  sources: { sla: " (the team's service target)", estimate: " (an estimate)" },
  next: "Next step",
  latest: "Latest update",
  updated: "Last update: ",
  quiet: "No public update for a while.",
  reminded: " We have reminded the team.",
  open: "Open the case page",
  subscribe: "Keep me updated",
  caseNo: "Case ",
  announce: "Case updated: ",
  caseField: "Case number",
  emailField: "E-mail address",
  submit: "Look up the case",
  looking: "Looking up the case\u2026",
  found: "Case found.",
  noMatch: "No case matches this number and e-mail address.",
  tooMany: "Too many attempts. Try again ",
  aMinute: "in a minute",
  unavailable: "The case lookup is not available right now."
};
var STAGES = ["received", "in_progress", "resolved", "closed"];
var CASE_PATH = /^(.*)\/([cp])\/([^\/]+)\/?$/;
var PER_CONNECTION = 60;
var LANG = "en";
var DIR = "ltr";
var relative = new Intl.RelativeTimeFormat(LANG, { numeric: "auto" });
var asked = null;
var UNITS = [["day", 86400], ["hour", 3600], ["minute", 60]];
var cards = new Set();
var timer = 0;
var lines = {};

function warn(message, detail) {
  try { console.warn("[tracker] " + message, detail == null ? "" : detail); } catch (e) {}
}

function guard(fn) {
  return function () {
    try { return fn.apply(this, arguments); } catch (error) { warn("unexpected error", error); }
  };
}

var script = document.currentScript || document.querySelector('script[src$="/widget.js"]');
var BASE = "";
try {
  var own = new URL(script.src, location.href);
  BASE = own.origin + own.pathname.replace(/\/widget\.js$/, "");
} catch (e) {
  warn("add widget.js with <script src>");
}

function json(response) {
  if (!response.ok) throw new Error("HTTP " + response.status);
  return response.json();
}

function webUrl(value, base) {
  try {
    var url = new URL(String(value), base);
    return /^https?:$/.test(url.protocol) ? url : null;
  } catch (e) {
    return null;
  }
}

function el(tag, part, text, parent, attrs) {
  var node = set(document.createElement(tag), attrs);
  if (part) node.setAttribute("part", part);
  if (text != null) node.textContent = String(text);
  if (parent) parent.appendChild(node);
  return node;
}

function set(node, attrs) {
  for (var name in attrs) node.setAttribute(name, attrs[name]);
  return node;
}

function toDate(value) {
  var date = value ? new Date(String(value)) : null;
  return date && !isNaN(date.getTime()) ? date : null;
}

function ago(date) {
  var seconds = (date.getTime() - Date.now()) / 1000;
  for (var i = 0; i < UNITS.length; i++) {
    if (Math.abs(seconds) >= UNITS[i][1]) return relative.format(Math.round(seconds / UNITS[i][1]), UNITS[i][0]);
  }
  return relative.format(0, "second");
}

function clock(date) {
  var soon = Math.abs(date.getTime() - Date.now()) < 6 * 86400000;
  var options = soon ? { weekday: "short", hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(LANG, options).format(date);
}

function time(date, parent) {
  return el("time", null, ago(date), parent, { datetime: date.toISOString(), "data-ago": "" });
}

function tick() {
  cards.forEach(function (card) {
    var times = card.root.querySelectorAll("time[data-ago]");
    for (var i = 0; i < times.length; i++) times[i].textContent = ago(new Date(times[i].getAttribute("datetime")));
  });
}

function merge(into, from) {
  for (var key in into) {
    var value = from[key];
    if (typeof into[key] === "object") { if (value && typeof value === "object") merge(into[key], value); }
    else if (typeof value === "string") into[key] = value;
  }
}

function words() {
  if (!asked) {
    var query = new URLSearchParams();
    var first = document.querySelector("a.tracker-case[data-lang],div.tracker-lookup[data-lang]");
    var lookup = document.querySelector("div.tracker-lookup[data-tenant]");
    if (first) query.set("lang", first.getAttribute("data-lang"));
    if (lookup) query.set("tenant", lookup.getAttribute("data-tenant"));
    asked = Promise.race([
      fetch(BASE + "/widget/text.json?" + query, { credentials: "omit" }).then(json),
      new Promise(function (resolve, reject) { setTimeout(reject, 3000, new Error("no answer")); })
    ]).then(function (data) {
      if (!data || !data.text || typeof data.lang !== "string") throw new Error("unexpected answer");
      relative = new Intl.RelativeTimeFormat(data.lang, { numeric: "auto" });
      LANG = data.lang;
      DIR = data.dir === "rtl" ? "rtl" : "ltr";
      merge(TEXT, data.text);
    }).catch(function (error) { warn("keeping the English words", String(error)); });
  }
  return asked;
}

function local(node) {
  return set(node, { lang: LANG, dir: DIR });
}

function styles(root, theme, ready, brand) {
  var pending = 0;
  var done = function () { if (--pending === 0 && ready) { ready(); ready = null; } };
  var hrefs = [BASE + "/themes/default/widget.css"];
  if (theme && /^[\w-]+$/.test(theme) && theme !== "default") hrefs.push(BASE + "/themes/" + theme + "/widget.css");
  if (brand) hrefs.push(brand.href);
  hrefs.forEach(function (href) {
    var link = el("link", null, null, root, { rel: "stylesheet", href: href });
    pending++;
    link.addEventListener("load", done);
    link.addEventListener("error", done);
  });
  setTimeout(function () { pending = 1; done(); }, 3000);
}

function turnOf(c) {
  if (c.stage === "resolved" || c.stage === "closed") return ["done", TEXT.done + TEXT.stages[c.stage].toLowerCase() + "."];
  if (c.waiting_on === "customer") return ["you", TEXT.you];
  if (c.waiting_on === "third_party") return ["third", TEXT.thirdParty];
  return ["company", TEXT.company];
}

function render(body, c, tenant) {
  var list = function (value) { return Array.isArray(value) ? value : []; };
  var head = el("p", "number", TEXT.caseNo + c.case_id, body);
  if (tenant && tenant.name) head.textContent += " \u00b7 " + tenant.name;
  el("p", "title", c.title || TEXT.caseNo + c.case_id, body).dir = "auto";

  var current = STAGES.indexOf(c.stage);
  var stepper = el("ol", "stage", null, body, { "aria-label": TEXT.stepper });
  STAGES.forEach(function (stage, i) {
    el("li", null, TEXT.stages[stage], stepper, i < current ? { class: "done" }
      : i === current ? { class: "current", "aria-current": "step" } : {});
  });

  var turn = turnOf(c);
  var turnNode = el("p", "turn", null, body, { class: "turn turn-" + turn[0] });
  el("strong", null, turn[1], turnNode);
  if (turn[0] === "you") el("span", null, " " + TEXT.youDetail, turnNode);

  if (c.status_label) el("p", "status", TEXT.status + c.status_label, body);
  if (c.quiet) el("p", "quiet", TEXT.quiet + (c.quiet.reminded ? TEXT.reminded : ""), body);

  var percent = Number(c.progress);
  if (c.progress != null && isFinite(percent)) {
    percent = Math.max(0, Math.min(100, Math.round(percent)));
    var progress = el("p", "progress", null, body);
    el("progress", null, percent + "%", progress, { max: 100, value: percent, "aria-label": TEXT.progress });
    el("span", null, " " + percent + "%", progress);
  }

  var expected = toDate(c.expected_by);
  if (expected) {
    var by = el("p", "expected", TEXT.expected + clock(expected) + ", ", body);
    time(expected, by);
    if (TEXT.sources[c.expected_source]) by.appendChild(document.createTextNode(TEXT.sources[c.expected_source]));
  }

  var step = list(c.next_steps).filter(function (s) { return s && !s.done; })[0];
  if (step) {
    var next = el("p", "next-step", null, body);
    el("span", null, TEXT.next + " \u00b7 ", next, { class: "label" });
    el("strong", null, (TEXT.owners[step.owner] || TEXT.owners.company) + ": ", next);
    el("span", null, step.text, next).dir = "auto";
  }

  var update = list(c.updates)[0];
  if (update) {
    var box = el("div", "update", null, body);
    el("p", null, TEXT.latest, box, { class: "label" });
    el("p", null, update.body, box, { class: "body", dir: "auto" });
    var meta = el("p", null, update.author_display ? update.author_display + " \u00b7 " : "", box, { class: "meta" });
    var at = toDate(update.at);
    if (at) time(at, meta);
  }

  var changed = toDate(c.updated_at);
  if (changed) time(changed, el("p", "updated", TEXT.updated, body));
}

function summary(c) {
  var turn = turnOf(c);
  var stage = TEXT.stages[c.stage] || "";
  return TEXT.announce + (turn[0] === "done" ? stage : stage + ", " + turn[1].charAt(0).toLowerCase() + turn[1].slice(1));
}

function caseOf(link) {
  var url = webUrl(link.getAttribute("href"), location.href);
  var match = url && CASE_PATH.exec(url.pathname);
  if (!match) return null;
  var root = url.origin + match[1];
  return { base: root + "/" + match[2] + "/" + match[3], root: root, kind: match[2], id: decodeURIComponent(match[3]) };
}

// A browser allows six connections a site: cards share one per tracker, reopened with revisions.
function follow(state) {
  var line = lines[state.at.root] || (lines[state.at.root] = { root: state.at.root, cards: new Set(), sources: [], wait: 1000 });
  line.cards.add(state);
  reopen(line, 50);
}

function unfollow(state) {
  var line = lines[state.at.root];
  if (line && line.cards.delete(state)) reopen(line, 50);
}

function reopen(line, delay) {
  clearTimeout(line.timer);
  line.timer = setTimeout(guard(function () { connect(line); }), delay);
}

function connect(line) {
  line.sources.forEach(function (source) { source.close(); });
  line.sources = [];
  var all = Array.from(line.cards);
  for (var i = 0; i < all.length && window.EventSource; i += PER_CONNECTION) listen(line, all.slice(i, i + PER_CONNECTION));
}

function listen(line, states) {
  var query = states.map(function (s) {
    return s.at.kind + "=" + encodeURIComponent(s.at.id) + (s.revision > 0 ? "~" + s.revision : "");
  });
  var source = new EventSource(line.root + "/live?" + query.join("&"));
  line.sources.push(source);
  var onEvent = guard(function (message) {
    var data = JSON.parse(message.data);
    var state = states[data.s];
    if (!state || !line.cards.has(state)) return;
    line.wait = 1000;
    if (message.type === "gone") {
      line.cards.delete(state);
      warn("live updates stopped for " + state.at.base, data.e && data.e.error);
    } else if (data.e && data.e.case) state.show(data.e.case, true);
  });
  ["case", "change", "gone"].forEach(function (type) { source.addEventListener(type, onEvent); });
  source.addEventListener("error", function () {
    // Reopened by us with fresh revisions, after a growing, jittered pause.
    if (line.sources.indexOf(source) < 0) return;
    line.sources.forEach(function (each) { each.close(); });
    line.sources = [];
    reopen(line, line.wait * (0.5 + Math.random()));
    line.wait = Math.min(line.wait * 2, 30000);
  });
}

function upgradeLink(link) {
  if (link.hasAttribute("data-tracker")) return;
  link.setAttribute("data-tracker", "pending");
  var at = caseOf(link);
  var fallback = function (message, detail) {
    link.setAttribute("data-tracker", "fallback");
    warn(message + "; keeping the link " + link.href, detail);
  };
  if (!at) return fallback("not a /c/ or /p/ link");
  Promise.all([fetch(at.base + "/case.json", { credentials: "omit" }).then(json), words()])
    .then(function (answers) {
      var data = answers[0];
      if (!data || !data.case_id) throw new Error("unexpected answer");
      if (link.isConnected) mount(link, at, data);
    })
    .catch(function (error) { fallback("could not load the case", String(error)); });
}

function mount(link, at, data) {
  var tenant = data.tenant || {};
  var host = document.createElement("tracker-case");
  host.hidden = true;
  var root = host.attachShadow({ mode: "open" });
  var card = local(el("section", "card", null, root, { class: "card" }));
  var body = el("div", null, null, card);
  var foot = el("p", null, null, card, { class: "link" });
  var live = el("p", null, null, card, { class: "announce", "aria-live": "polite" });

  var state = { root: root, host: host, at: at, key: "", revision: -1 };
  var show = state.show = function (c, announce) {
    var key = JSON.stringify(c, function (k, v) { return k === "revision" ? undefined : v; });
    if (Number(c.revision) <= state.revision || key === state.key) {
      state.revision = Math.max(state.revision, Number(c.revision) || 0);
      return;
    }
    var fresh = document.createElement("div");
    render(fresh, c, tenant);
    body.replaceWith(fresh);
    body = fresh;
    state.key = key;
    state.revision = Number(c.revision) || 0;
    card.setAttribute("aria-label", c.title || TEXT.caseNo + c.case_id);
    if (announce) live.textContent = summary(c);
  };
  show(data, false);

  styles(root, link.getAttribute("data-theme") || tenant.theme, function () {
    host.hidden = false;
  }, webUrl(tenant.brand_css));
  link.parentNode.insertBefore(host, link);
  set(link, { "data-tracker": "card", part: "link" }).textContent = TEXT.open;
  foot.appendChild(link);
  var updates = webUrl(data.keep_me_updated);
  if (updates) {
    foot.appendChild(document.createTextNode(" \u00b7 "));
    el("a", "subscribe", TEXT.subscribe, foot).href = updates.href;
  }

  cards.add(state);
  if (!timer) timer = setInterval(guard(tick), 60000);
  follow(state);
}

function close(state) {
  unfollow(state);
  cards.delete(state);
  if (!cards.size && timer) timer = clearInterval(timer) || 0;
}

function upgradeLookup(holder) {
  if (holder.hasAttribute("data-tracker")) return;
  holder.setAttribute("data-tracker", "lookup");
  var tenant = holder.getAttribute("data-tenant");
  if (!tenant) return warn("a tracker-lookup needs data-tenant=\"YOUR-TENANT\"");
  words().then(guard(function () { lookupForm(holder, tenant); }));
}

function lookupForm(holder, tenant) {
  var root = holder.attachShadow({ mode: "open" });
  var form = local(el("form", "lookup", null, root));
  form.hidden = true;
  styles(root, holder.getAttribute("data-theme"), function () { form.hidden = false; });
  var field = function (label, name, type, autocomplete) {
    var wrap = el("label", "field", null, form);
    el("span", null, label, wrap);
    return el("input", "input", null, wrap, { name: name, type: type, autocomplete: autocomplete, required: "" });
  };
  var number = field(TEXT.caseField, "case", "text", "off");
  var email = field(TEXT.emailField, "email", "email", "email");
  var button = el("button", "button", TEXT.submit, form, { type: "submit" });
  var message = el("p", "message", null, form, { role: "status", "aria-live": "polite" });
  var result = el("div", null, null, root);

  form.addEventListener("submit", guard(function (event) {
    event.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    message.textContent = TEXT.looking;
    var say = function (text) { message.textContent = text; button.disabled = false; };
    fetch(BASE + "/api/lookup/" + encodeURIComponent(tenant), {
      method: "POST",
      credentials: "omit",
      body: new URLSearchParams({ case: number.value.trim(), email: email.value.trim() })
    }).then(function (response) {
      if (response.status === 404) return say(TEXT.noMatch);
      if (response.status === 429) {
        var wait = parseInt(response.headers.get("Retry-After"), 10);
        return say(TEXT.tooMany + (wait > 90 ? relative.format(Math.ceil(wait / 60), "minute") : TEXT.aMinute) + ".");
      }
      return json(response).then(function (data) {
        var url = data && data.ok && webUrl(data.url);
        if (!url) throw new Error("unexpected answer");
        cards.forEach(function (state) { if (result.contains(state.host)) close(state); });
        var link = el("a", null, TEXT.open, null, { class: "tracker-case", href: url.href });
        result.replaceChildren(link);
        say(TEXT.found);
        upgradeLink(link);
      });
    }).catch(function (error) {
      warn("case lookup failed", String(error));
      say(TEXT.unavailable);
    });
  }));
}

function scan(node) {
  if (node.nodeType !== 1) return;
  var found = node.querySelectorAll("a.tracker-case, div.tracker-lookup[data-tenant]");
  [node].concat(Array.from(found)).forEach(function (each) {
    if (each.matches("a.tracker-case")) upgradeLink(each);
    else if (each.matches("div.tracker-lookup[data-tenant]")) upgradeLookup(each);
  });
}

var start = guard(function () {
  scan(document.documentElement);
  new MutationObserver(guard(function (records) {
    var removed = false;
    records.forEach(function (record) {
      record.addedNodes.forEach(scan);
      removed = removed || record.removedNodes.length > 0;
    });
    // A card taken out of the page stops listening.
    if (removed) cards.forEach(function (state) { if (!state.host.isConnected) close(state); });
  })).observe(document.documentElement, { childList: true, subtree: true });
});

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
})();
