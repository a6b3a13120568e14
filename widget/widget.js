// tracker widget: case links become live cards, "My cases" links live lists, placeholders a
// lookup form or the known problems. A guest on others' pages: textContent only, no storage,
// never throws; on failure the plain link stays. Its words come from tracker (text.json).
(function () {
"use strict";

var TEXT = null;
var LINKS = false;
var STAGES = ["received", "in_progress", "resolved", "closed"];
var CASE_PATH = /^(.*)\/([cpr])\/([^\/]+)\/?$/;
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

function words() {
  if (!asked) {
    var query = new URLSearchParams();
    var first = document.querySelector("[data-lang].tracker-case,[data-lang].tracker-cases,[data-lang].tracker-lookup");
    var holder = document.querySelector(".tracker-lookup[data-tenant],.tracker-problems[data-tenant]");
    if (first) query.set("lang", first.getAttribute("data-lang"));
    if (holder) query.set("tenant", holder.getAttribute("data-tenant"));
    asked = Promise.race([
      fetch(BASE + "/widget/text.json?" + query, { credentials: "omit" }).then(json),
      new Promise(function (resolve, reject) { setTimeout(reject, 3000, new Error("no answer")); })
    ]).then(function (data) {
      if (!data || !data.text || !data.text.stages || typeof data.lang !== "string") throw new Error("unexpected answer");
      relative = new Intl.RelativeTimeFormat(data.lang, { numeric: "auto" });
      LANG = data.lang;
      DIR = data.dir === "rtl" ? "rtl" : "ltr";
      LINKS = data.links === true;
      TEXT = data.text;
    });
  }
  return asked;
}

// Plural forms by the reader's language rules: {one: "%(num)d closed case", other: ...}.
function count(forms, n) {
  return String(forms[new Intl.PluralRules(LANG).select(n)] || forms.other).replace("%(num)d", n);
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

function isOpen(c) {
  return c.stage !== "resolved" && c.stage !== "closed";
}

function turnOf(c) {
  if (!isOpen(c)) return ["done", TEXT.done + TEXT.stages[c.stage].toLowerCase() + "."];
  if (c.waiting_on === "customer") return ["you", TEXT.you];
  if (c.waiting_on === "third_party") return ["third", TEXT.thirdParty];
  return ["company", TEXT.company];
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

function percentOf(value) {
  var percent = Number(value);
  return value != null && isFinite(percent) ? Math.max(0, Math.min(100, Math.round(percent))) : null;
}

function render(body, c, tenant) {
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

  var percent = percentOf(c.progress);
  if (percent != null) {
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

  if (c.problem) problem(el("div", "problem", null, body), c.problem, c.awaiting_verdict);

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

// The known problem a case waits on, as the company describes it to customers.
function problem(box, p, asking) {
  el("p", null, p.title ? TEXT.problem + " " + p.title : TEXT.aProblem, box, { class: "label", dir: "auto" });
  if (p.summary) el("p", null, p.summary, box, { dir: "auto" });
  if (p.fix_out) el("strong", null, TEXT.fixOut + (asking ? " " + TEXT.solved : ""), el("p", null, null, box));
  else if (TEXT.stages[p.stage]) el("p", null, TEXT.problemIs.replace("%(stage)s", TEXT.stages[p.stage].toLowerCase()), box);
  var percent = percentOf(p.progress);
  if (percent != null) el("p", null, TEXT.progress + ": " + percent + "%", box);
  var fix = toDate(p.expected_by);
  if (fix && !p.fix_out) el("p", null, TEXT.fixBy + " " + clock(fix), box);
  if (p.others_affected > 0) el("p", null, count(TEXT.affected, p.others_affected), box);
  var steps = el("ol", null, null, box);
  list(p.next_steps).forEach(function (s) { if (s && !s.done) el("li", null, s.text, steps, { dir: "auto" }); });
  if (!steps.firstChild) steps.remove();
}

// A customer's cases: open ones first (theirs to move first), then the latest change first.
function renderCases(body, items) {
  items.sort(function (a, b) {
    return rank(a) - rank(b) || String(b.updated_at).localeCompare(String(a.updated_at));
  });
  var open = items.filter(isOpen);
  var closed = items.filter(function (c) { return !isOpen(c); });
  if (!open.length) el("p", null, TEXT.noCases, body);
  entries(el("ul", "cases", null, body), open);
  if (closed.length) {
    var more = el("details", "closed", null, body);
    el("summary", null, count(TEXT.closedCases, closed.length), more);
    entries(el("ul", null, null, more), closed);
  }
}

function rank(c) {
  return (isOpen(c) ? 0 : 2) + (c.waiting_on === "customer" ? 0 : 1);
}

function entries(ul, items) {
  items.forEach(function (c) {
    var li = el("li", null, null, ul);
    var url = webUrl(c.url);
    el("a", null, c.title || TEXT.caseNo + c.case_id, li, url ? { href: url.href, dir: "auto" } : {});
    li.append(" \u00b7 " + (TEXT.stages[c.stage] || ""));
    if (isOpen(c) && c.waiting_on === "customer") el("strong", null, " \u00b7 " + TEXT.you, li, { class: "you" });
    var expected = toDate(c.expected_by);
    if (expected && isOpen(c)) li.append(" \u00b7 " + TEXT.expected + clock(expected));
    var changed = toDate(c.updated_at);
    if (changed) time(changed, el("span", null, " \u00b7 ", li, { class: "meta" }));
  });
}

// The company's known problems (its status page), each as it describes it to customers.
function renderProblems(body, items) {
  if (!items.length) el("p", null, TEXT.noProblems, body);
  var ul = el("ul", "problems", null, body);
  items.forEach(function (p) {
    var li = el("li", null, null, ul);
    el("strong", null, p.title, li, { dir: "auto" });
    if (p.summary) el("p", null, p.summary, li, { dir: "auto" });
    el("p", null, TEXT.stages[p.stage] || "", li, { class: "label" });
    var fix = toDate(p.expected_by);
    if (fix && isOpen(p)) el("p", null, TEXT.fixBy + " " + clock(fix), li);
    if (p.open_cases > 0) el("p", null, count(TEXT.linked, p.open_cases), li);
  });
}

function summary(c) {
  var turn = turnOf(c);
  var stage = TEXT.stages[c.stage] || "";
  return TEXT.announce + (turn[0] === "done" ? stage : stage + ", " + turn[1].charAt(0).toLowerCase() + turn[1].slice(1));
}

function caseOf(link, kinds) {
  var url = webUrl(link.getAttribute("href"), location.href);
  var match = url && CASE_PATH.exec(url.pathname);
  if (!match || kinds.indexOf(match[2]) < 0) return null;
  var root = url.origin + match[1];
  return { base: root + "/" + match[2] + "/" + match[3], root: root, kind: match[2], id: decodeURIComponent(match[3]) };
}

// A browser allows six connections a site: cards and lists share one per tracker, reopened
// with revisions.
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
    if (message.type === "added") reopen(line, 50);  // a new case of a list: it comes with the list
    else if (message.type === "gone" && data.k == null) {
      line.cards.delete(state);
      warn("live updates stopped for " + state.at.base, data.e && data.e.error);
    } else state.got(message.type, data.e || {}, data.k);
  });
  ["case", "change", "gone", "list", "added"].forEach(function (type) { source.addEventListener(type, onEvent); });
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
  var at = caseOf(link, "cp");
  if (!at) return fallback(link, "not a /c/ or /p/ link");
  Promise.all([fetch(at.base + "/case.json", { credentials: "omit" }).then(json), words()])
    .then(function (answers) {
      var data = answers[0];
      if (!data || !data.case_id) throw new Error("unexpected answer");
      if (link.isConnected) mountCard(link, at, data);
    })
    .catch(function (error) { fallback(link, "could not load the case", String(error)); });
}

function fallback(link, message, detail) {
  link.setAttribute("data-tracker", "fallback");
  warn(message + "; keeping " + (link.href || "the placeholder"), detail);
}

// A shadow root for a card: on an element of its own put `before` the link, or in a
// placeholder itself; shown once its styles are in.
function shell(holder, theme, brand, before) {
  var host = before ? document.createElement("tracker-case") : holder;
  host.hidden = true;
  var root = host.attachShadow({ mode: "open" });
  var card = local(el("section", "card", null, root, { class: "card" }));
  styles(root, theme, function () { host.hidden = false; }, brand);
  if (before) holder.parentNode.insertBefore(host, holder);
  return { host: host, root: root, card: card };
}

function mountCard(link, at, data) {
  var tenant = data.tenant || {};
  var state = shell(link, link.getAttribute("data-theme") || tenant.theme, webUrl(tenant.brand_css), true);
  var card = state.card;
  var body = el("div", null, null, card);
  var foot = el("p", null, null, card, { class: "link" });
  var live = el("p", null, null, card, { class: "announce", "aria-live": "polite" });

  state.at = at;
  state.key = "";
  state.revision = -1;
  var show = function (c, announce) {
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
  state.got = function (type, e) { if (e.case) show(e.case, true); };
  show(data, false);

  set(link, { "data-tracker": "card", part: "link" }).textContent = TEXT.open;
  foot.appendChild(link);
  var updates = webUrl(data.keep_me_updated);
  if (updates) {
    foot.append(" \u00b7 ");
    el("a", "subscribe", TEXT.subscribe, foot).href = updates.href;
  }
  track(state);
}

// A list that its stream sends whole on each connection (a customer's cases, known
// problems): drawn from each `list`, then again at each change. A "My cases" link (`heading`)
// becomes its heading; a placeholder holds it.
function mountList(holder, at, heading, draw, theme) {
  var state = shell(holder, theme, null, heading);
  var items = [];
  if (heading) el("p", "number", null, state.card).appendChild(set(holder, { "data-tracker": "list", part: "link" }));
  var body = el("div", null, null, state.card);
  var redraw = function () {
    var fresh = document.createElement("div");
    draw(fresh, items.filter(Boolean));
    body.replaceWith(fresh);
    body = fresh;
  };
  state.at = at;
  state.got = function (type, e, k) {
    if (type === "list") items = list(e.items);
    else if (items[k]) items[k] = type === "gone" ? null : Object.assign({}, items[k], e.case);
    redraw();
  };
  track(state);
}

function track(state) {
  cards.add(state);
  if (!timer) timer = setInterval(guard(tick), 60000);
  follow(state);
}

function close(state) {
  unfollow(state);
  cards.delete(state);
  if (!cards.size && timer) timer = clearInterval(timer) || 0;
}

function upgradeList(link) {
  if (link.hasAttribute("data-tracker")) return;
  link.setAttribute("data-tracker", "pending");
  var at = caseOf(link, "r");
  if (!at) return fallback(link, "not a /r/ link");
  words().then(guard(function () {
    if (!link.isConnected) return;
    link.textContent = TEXT.myCases;
    mountList(link, at, true, renderCases, link.getAttribute("data-theme"));
  }), function (error) { fallback(link, "could not load the words", String(error)); });
}

function upgradePlaceholder(holder) {
  if (holder.hasAttribute("data-tracker")) return;
  var tenant = holder.getAttribute("data-tenant");
  var lookup = holder.matches(".tracker-lookup");
  holder.setAttribute("data-tracker", lookup ? "lookup" : "problems");
  words().then(guard(function () {
    if (lookup) return lookupForm(holder, tenant);
    mountList(holder, { root: BASE, base: BASE + "/s/" + tenant, kind: "s", id: tenant }, false, renderProblems,
      holder.getAttribute("data-theme"));
  }), function (error) { fallback(holder, "could not load the words", String(error)); });
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
  var links = LINKS && el("button", "button", TEXT.mailLinks, form, { type: "button" });
  var message = el("p", "message", null, form, { role: "status", "aria-live": "polite" });
  var result = el("div", null, null, root);
  var say = function (text) { message.textContent = text; button.disabled = false; };
  var ask = function (path, body, answer) {
    button.disabled = true;
    message.textContent = TEXT.looking;
    fetch(BASE + path, {
      method: "POST",
      credentials: "omit",
      headers: { Accept: "application/json" },
      body: new URLSearchParams(body)
    }).then(function (response) {
      if (response.status === 429) {
        var wait = parseInt(response.headers.get("Retry-After"), 10);
        return say(TEXT.tooMany + (wait > 90 ? relative.format(Math.ceil(wait / 60), "minute") : TEXT.aMinute) + ".");
      }
      return answer(response);
    }).catch(function (error) {
      warn("case lookup failed", String(error));
      say(TEXT.unavailable);
    });
  };
  var place = encodeURIComponent(tenant);

  if (links) links.addEventListener("click", guard(function () {
    if (!button.disabled && email.reportValidity()) ask("/s/" + place + "/my-cases", { email: email.value.trim() }, function (response) {
      if (response.status !== 202) throw new Error("HTTP " + response.status);
      say(TEXT.linksSent);
    });
  }));
  form.addEventListener("submit", guard(function (event) {
    event.preventDefault();
    if (!button.disabled) ask("/api/lookup/" + place, { case: number.value.trim(), email: email.value.trim() }, function (response) {
      if (response.status === 404) return say(TEXT.noMatch);
      return json(response).then(function (data) {
        var url = data && data.ok && webUrl(data.url);
        if (!url) throw new Error("unexpected answer");
        cards.forEach(function (state) { if (result.contains(state.host)) close(state); });
        var link = el("a", null, TEXT.open, null, { class: "tracker-case", href: url.href });
        result.replaceChildren(link);
        say(TEXT.found);
        upgradeLink(link);
      });
    });
  }));
}

var UPGRADES = [
  ["a.tracker-case", upgradeLink],
  ["a.tracker-cases", upgradeList],
  [".tracker-lookup[data-tenant],.tracker-problems[data-tenant]", upgradePlaceholder]
];

function scan(node) {
  if (node.nodeType !== 1) return;
  UPGRADES.forEach(function (upgrade) {
    if (node.matches(upgrade[0])) upgrade[1](node);
    node.querySelectorAll(upgrade[0]).forEach(upgrade[1]);
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
