// tracker widget: links become live case cards and lists, placeholders a lookup form or the known
// problems. A guest on others' pages: textContent only, no storage, never throws; on failure the
// plain link stays. Its words come from tracker (widget/text.json).
(function () {
"use strict";

var TEXT, LINKS, asked;
var STAGES = ["received", "in_progress", "resolved", "closed"];
var CASE_PATH = /^(.*)\/([cpr])\/([^\/]+)\/?$/;
var LANG = "en";
var DIR = "ltr";
var relative = new Intl.RelativeTimeFormat(LANG, { numeric: "auto" });
var UNITS = [["day", 86400], ["hour", 3600], ["minute", 60]];
var DOT = " \u00b7 ";
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

function auto(tag, text, parent, attrs) {
  return el(tag, null, text, parent, Object.assign({ dir: "auto" }, attrs));
}

function toDate(value) {
  var date = value ? new Date(String(value)) : null;
  return date && !isNaN(date) ? date : null;
}

function ago(date) {
  var seconds = (date - Date.now()) / 1000;
  var unit = UNITS.filter(function (u) { return Math.abs(seconds) >= u[1]; })[0];
  return unit ? relative.format(Math.round(seconds / unit[1]), unit[0]) : relative.format(0, "second");
}

function clock(date) {
  var options = Math.abs(date - Date.now()) < 6 * 86400000 ? { weekday: "short", hour: "2-digit", minute: "2-digit" }
    : { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" };
  return new Intl.DateTimeFormat(LANG, options).format(date);
}

function time(date, parent) {
  return el("time", null, ago(date), parent, { datetime: date.toISOString(), "data-ago": "" });
}

function tick() {
  cards.forEach(function (card) {
    card.root.querySelectorAll("time[data-ago]").forEach(function (node) {
      node.textContent = ago(new Date(node.getAttribute("datetime")));
    });
  });
}

// The page's language (the first data-lang) and tenant (for its default language, and whether
// it mails) choose the words.
function words() {
  var query = new URLSearchParams();
  ["lang", "tenant"].forEach(function (name) {
    var node = document.querySelector("[data-" + name + "]:is(.tracker-case,.tracker-cases,.tracker-lookup,.tracker-problems)");
    if (node) query.set(name, node.getAttribute("data-" + name));
  });
  asked = asked || Promise.race([
    fetch(BASE + "/widget/text.json?" + query, { credentials: "omit" }).then(json),
    new Promise(function (resolve, reject) { setTimeout(reject, 3000, new Error("no answer")); })
  ]).then(function (data) {
    if (!data.text.stages) throw new Error("unexpected answer");
    relative = new Intl.RelativeTimeFormat(data.lang, { numeric: "auto" });
    LANG = data.lang;
    DIR = data.dir === "rtl" ? "rtl" : "ltr";
    LINKS = data.links === true;
    TEXT = data.text;
  });
  return asked;
}

// Plural forms by the reader's language rules: {one: "%(num)d closed case", other: ...}.
function count(forms, n) {
  return String(forms[new Intl.PluralRules(LANG).select(n)] || forms.other).replace("%(num)d", n);
}

function isOpen(c) {
  return c.stage !== "resolved" && c.stage !== "closed";
}

function turnOf(c) {
  if (!isOpen(c)) return ["done", TEXT.done + TEXT.stages[c.stage].toLowerCase() + "."];
  if (c.waiting_on === "customer") return ["you", TEXT.you];
  return c.waiting_on === "third_party" ? ["third", TEXT.thirdParty] : ["company", TEXT.company];
}

function list(value) {
  return Array.isArray(value) ? value : [];
}

function percentOf(value) {
  var percent = Number(value);
  return value != null && isFinite(percent) ? Math.max(0, Math.min(100, Math.round(percent))) : null;
}

function render(body, c, tenant) {
  el("p", "number", TEXT.caseNo + c.case_id + (tenant.name ? DOT + tenant.name : ""), body);
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
  if (turn[0] === "you") turnNode.append(" " + TEXT.youDetail);

  if (c.status_label) el("p", "status", TEXT.status + c.status_label, body);
  if (c.quiet) el("p", "quiet", TEXT.quiet + (c.quiet.reminded ? TEXT.reminded : ""), body);

  var percent = percentOf(c.progress);
  if (percent != null) {
    var progress = el("p", "progress", null, body);
    el("progress", null, percent + "%", progress, { max: 100, value: percent, "aria-label": TEXT.progress });
    progress.append(" " + percent + "%");
  }

  var expected = toDate(c.expected_by);
  if (expected) {
    var by = el("p", "expected", TEXT.expected + clock(expected) + ", ", body);
    time(expected, by);
    by.append(TEXT.sources[c.expected_source] || "");
  }

  var step = list(c.next_steps).filter(function (s) { return s && !s.done; })[0];
  if (step) {
    var next = el("p", "next-step", null, body);
    el("span", null, TEXT.next + DOT, next, { class: "label" });
    el("strong", null, (TEXT.owners[step.owner] || TEXT.owners.company) + ": ", next);
    auto("span", step.text, next);
  }

  if (c.problem) problem(el("div", "problem", null, body), c.problem, c.awaiting_verdict);

  var update = list(c.updates)[0];
  if (update) {
    var box = el("div", "update", null, body);
    el("p", null, TEXT.latest, box, { class: "label" });
    auto("p", update.body, box, { class: "body" });
    var meta = el("p", null, update.author_display ? update.author_display + DOT : "", box, { class: "meta" });
    var at = toDate(update.at);
    if (at) time(at, meta);
  }

  var changed = toDate(c.updated_at);
  if (changed) time(changed, el("p", "updated", TEXT.updated, body));
}

// The known problem a case waits on, as the company describes it to customers.
function problem(box, p, asking) {
  auto("p", p.title ? TEXT.problem + " " + p.title : TEXT.aProblem, box, { class: "label" });
  if (p.summary) auto("p", p.summary, box);
  if (p.fix_out) el("strong", null, TEXT.fixOut + (asking ? " " + TEXT.solved : ""), el("p", null, null, box));
  else if (TEXT.stages[p.stage]) el("p", null, TEXT.problemIs.replace("%(stage)s", TEXT.stages[p.stage].toLowerCase()), box);
  if (percentOf(p.progress) != null) el("p", null, TEXT.progress + ": " + percentOf(p.progress) + "%", box);
  fixBy(p, !p.fix_out, box);
  if (p.others_affected > 0) el("p", null, count(TEXT.affected, p.others_affected), box);
  var steps = list(p.next_steps).filter(function (s) { return s && !s.done; });
  if (steps.length) {
    var ol = el("ol", null, null, box);
    steps.forEach(function (s) { auto("li", s.text, ol); });
  }
}

// A `problem` frame: the problem the case is linked to moved, ahead of the case's own revision
// that carries it. Applied to the case as the server would (public.py): the others it affects,
// the question "is it solved?", and a fix that resolves the case.
function withProblem(c, e) {
  var p = c.problem;
  if (!p || p.key !== e.problem.key || p.revision >= e.problem.revision) return c;
  var open = c.helpdesk_stage === "received" || c.helpdesk_stage === "in_progress";
  var moved = Object.assign({}, c, { problem: Object.assign({}, e.problem) });
  if (!open) moved.problem.others_affected += 1;
  if (open) moved.awaiting_verdict = e.asks && e.problem.fix_out && !c.verdict;
  if (open && e.resolves && e.problem.fix_out) moved.stage = "resolved";
  return moved;
}

function fixBy(p, open, parent) {
  var fix = toDate(p.expected_by);
  if (fix && open) el("p", null, TEXT.fixBy + " " + clock(fix), parent);
}

// A customer's cases: open ones first (theirs to move first), then the latest change first.
function renderCases(body, items) {
  var rank = function (c) { return (isOpen(c) ? 0 : 2) + (c.waiting_on === "customer" ? 0 : 1); };
  items.sort(function (a, b) { return rank(a) - rank(b) || String(b.updated_at).localeCompare(String(a.updated_at)); });
  var open = items.filter(isOpen);
  var closed = items.slice(open.length);
  if (!open.length) el("p", null, TEXT.noCases, body);
  entries(el("ul", "cases", null, body), open);
  if (closed.length) {
    var more = el("details", "closed", null, body);
    el("summary", null, count(TEXT.closedCases, closed.length), more);
    entries(el("ul", null, null, more), closed);
  }
}

function entries(ul, items) {
  items.forEach(function (c) {
    var li = el("li", null, null, ul);
    var url = webUrl(c.url);
    auto("a", c.title || TEXT.caseNo + c.case_id, li, url ? { href: url.href } : {});
    li.append(DOT + (TEXT.stages[c.stage] || ""));
    var expected = isOpen(c) && toDate(c.expected_by);
    if (isOpen(c) && c.waiting_on === "customer") el("strong", null, DOT + TEXT.you, li, { class: "you" });
    if (expected) li.append(DOT + TEXT.expected + clock(expected));
    if (toDate(c.updated_at)) time(toDate(c.updated_at), el("span", null, DOT, li, { class: "meta" }));
  });
}

// The company's known problems (its status page), each as it describes it to customers.
function renderProblems(body, items) {
  if (!items.length) el("p", null, TEXT.noProblems, body);
  var ul = el("ul", "problems", null, body);
  items.forEach(function (p) {
    var li = el("li", null, null, ul);
    auto("strong", p.title, li);
    if (p.summary) auto("p", p.summary, li);
    el("p", null, TEXT.stages[p.stage] || "", li, { class: "label" });
    fixBy(p, isOpen(p), li);
    if (p.open_cases > 0) el("p", null, count(TEXT.linked, p.open_cases), li);
  });
}

function caseOf(link, kinds) {
  var url = webUrl(link.getAttribute("href"), location.href);
  var match = url && CASE_PATH.exec(url.pathname);
  if (!match || kinds.indexOf(match[2]) < 0) return null;
  var root = url.origin + match[1];
  return { root: root, base: root + "/" + match[2] + "/" + match[3], kind: match[2], id: decodeURIComponent(match[3]) };
}

// A browser allows six connections a site: cards and lists share one per tracker, reopened
// with each card's revision.
function follow(state) {
  var root = state.at.root;
  var line = lines[root] = lines[root] || { root: root, cards: new Set(), sources: [], wait: 1000 };
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
  for (var i = 0; i < all.length && window.EventSource; i += 60) listen(line, all.slice(i, i + 60));
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
    if (!line.cards.has(state)) return;
    line.wait = 1000;
    if (message.type === "added") reopen(line, 50);  // a list's new case comes with the list
    else if (message.type === "gone" && data.k == null) {
      line.cards.delete(state);
      warn("live updates stopped for " + state.at.base, data.e.error);
    } else state.got(message.type, data.e, data.k);
  });
  ["case", "change", "gone", "list", "added", "problem"].forEach(function (type) { source.addEventListener(type, onEvent); });
  source.addEventListener("error", function () {
    // Reopened by us with fresh revisions, after a growing, jittered pause.
    if (line.sources.indexOf(source) < 0) return;
    line.sources.forEach(function (each) { each.close(); });
    line.sources = [];
    reopen(line, line.wait * (0.5 + Math.random()));
    line.wait = Math.min(line.wait * 2, 30000);
  });
}

function fallback(holder, message, detail) {
  holder.setAttribute("data-tracker", "fallback");
  warn(message + "; keeping " + (holder.href || "the placeholder"), detail);
}

// Upgrades `holder` once the words (and `first`, the case) are in; the plain link otherwise.
function upgrade(holder, mark, first, then) {
  if (holder.hasAttribute("data-tracker")) return;
  holder.setAttribute("data-tracker", mark);
  Promise.all([first, words()]).then(function (answers) {
    if (holder.isConnected) then(answers[0]);
  }).catch(function (error) { fallback(holder, "could not load what it shows", String(error)); });
}

// A shadow root, shown once its styles are in (or after 3 s): on an element of its own put
// before a link, or in a placeholder itself.
function shell(holder, theme, brand, before) {
  var host = before ? document.createElement("tracker-case") : holder;
  var root = host.attachShadow({ mode: "open" });
  var card = set(el("section", "card", null, root, { class: "card" }), { lang: LANG, dir: DIR });
  var hrefs = [BASE + "/themes/default/widget.css"];
  if (/^[\w-]+$/.test(theme) && theme !== "default") hrefs.push(BASE + "/themes/" + theme + "/widget.css");
  if (brand) hrefs.push(brand.href);
  var pending = hrefs.length;
  var shown = function () { host.hidden = --pending > 0; };
  hrefs.forEach(function (href) {
    var link = el("link", null, null, root, { rel: "stylesheet", href: href });
    link.addEventListener("load", shown);
    link.addEventListener("error", shown);
  });
  setTimeout(function () { pending = 1; shown(); }, 3000);
  host.hidden = true;
  if (before) holder.before(host);
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
  state.revision = -1;
  var show = function (c, announce) {
    state.c = c;
    if (state.moved) c = withProblem(c, state.moved);
    var key = JSON.stringify(c, function (k, v) { return k === "revision" ? undefined : v; });
    if (Number(c.revision) < state.revision || key === state.key) {
      state.revision = Math.max(state.revision, Number(c.revision) || 0);
      return;
    }
    state.revision = Number(c.revision) || 0;
    var fresh = document.createElement("div");
    render(fresh, c, tenant);
    body.replaceWith(fresh);
    body = fresh;
    state.key = key;
    card.setAttribute("aria-label", c.title || TEXT.caseNo + c.case_id);
    var turn = turnOf(c)[1];
    var stage = TEXT.stages[c.stage] || "";
    if (announce) live.textContent = TEXT.announce + (isOpen(c) ? stage + ", " + turn[0].toLowerCase() + turn.slice(1) : stage);
  };
  state.got = function (type, e) {
    if (type === "problem") state.moved = e;
    var c = type === "problem" ? state.c : e.case;
    if (c) show(c, true);
  };
  show(data, false);

  set(link, { "data-tracker": "card", part: "link" }).textContent = TEXT.open;
  foot.appendChild(link);
  var updates = webUrl(data.keep_me_updated);
  if (updates) {
    foot.append(DOT);
    el("a", "subscribe", TEXT.subscribe, foot).href = updates.href;
  }
  track(state);
}

// A list its stream sends whole on each connection, drawn again at each change of one of its
// items (`k`). A "My cases" link becomes its heading; a placeholder holds it.
function mountList(holder, at, draw, heading) {
  var state = shell(holder, holder.getAttribute("data-theme"), null, heading);
  var items = [];
  if (heading) el("p", "number", null, state.card).appendChild(set(holder, { "data-tracker": "list", part: "link" }));
  var body = el("div", null, null, state.card);
  state.at = at;
  state.got = function (type, e, k) {
    if (type === "list") items = list(e.items);
    else if (items[k]) items[k] = type === "gone" ? null : Object.assign({}, items[k], e.case);
    var fresh = document.createElement("div");
    draw(fresh, items.filter(Boolean));
    body.replaceWith(fresh);
    body = fresh;
  };
  track(state);
}

function track(state) {
  cards.add(state);
  timer = timer || setInterval(guard(tick), 60000);
  follow(state);
}

function close(state) {
  unfollow(state);
  cards.delete(state);
  if (!cards.size) timer = clearInterval(timer) || 0;
}

function upgradeLink(link) {
  var at = caseOf(link, "cp");
  var data = at ? fetch(at.base + "/case.json", { credentials: "omit" }).then(json) : Promise.reject("not a /c/ or /p/ link");
  upgrade(link, "pending", data, function (c) {
    if (!c.case_id) throw new Error("unexpected answer");
    mountCard(link, at, c);
  });
}

function upgradeList(link) {
  var at = caseOf(link, "r");
  upgrade(link, "pending", at || Promise.reject("not a /r/ link"), function () {
    link.textContent = TEXT.myCases;
    mountList(link, at, renderCases, true);
  });
}

function upgradeProblems(holder) {
  var tenant = holder.getAttribute("data-tenant");
  upgrade(holder, "problems", null, function () {
    mountList(holder, { root: BASE, base: BASE + "/s/" + tenant, kind: "s", id: tenant }, renderProblems);
  });
}

function upgradeLookup(holder) {
  upgrade(holder, "lookup", null, function () { lookupForm(holder, encodeURIComponent(holder.getAttribute("data-tenant"))); });
}

function lookupForm(holder, tenant) {
  var shown = shell(holder, holder.getAttribute("data-theme"));
  var form = el("form", "lookup", null, shown.card);
  shown.card.replaceWith(set(form, { lang: LANG, dir: DIR }));
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
  var result = el("div", null, null, shown.root);
  var say = function (text) { message.textContent = text; button.disabled = false; };
  var ask = function (path, fields, answer) {
    if (button.disabled) return;
    button.disabled = true;
    message.textContent = TEXT.looking;
    fetch(BASE + path, {
      method: "POST", credentials: "omit", headers: { Accept: "application/json" }, body: new URLSearchParams(fields)
    }).then(function (response) {
      var wait = parseInt(response.headers.get("Retry-After"), 10);
      if (response.status !== 429) return answer(response);
      say(TEXT.tooMany + (wait > 90 ? relative.format(Math.ceil(wait / 60), "minute") : TEXT.aMinute) + ".");
    }).catch(function (error) {
      warn("case lookup failed", String(error));
      say(TEXT.unavailable);
    });
  };

  if (links) links.addEventListener("click", guard(function () {
    if (email.reportValidity()) ask("/s/" + tenant + "/my-cases", { email: email.value.trim() }, function (response) {
      if (response.status !== 202) throw new Error("HTTP " + response.status);
      say(TEXT.linksSent);
    });
  }));
  form.addEventListener("submit", guard(function (event) {
    event.preventDefault();
    ask("/api/lookup/" + tenant, { case: number.value.trim(), email: email.value.trim() }, function (response) {
      if (response.status === 404) return say(TEXT.noMatch);
      return json(response).then(function (data) {
        var url = data.ok && webUrl(data.url);
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

var UPGRADES = {
  "a.tracker-case": upgradeLink,
  "a.tracker-cases": upgradeList,
  ".tracker-lookup[data-tenant]": upgradeLookup,
  ".tracker-problems[data-tenant]": upgradeProblems
};

function scan(node) {
  for (var selector in UPGRADES) {
    if (node.matches && node.matches(selector)) UPGRADES[selector](node);
    if (node.querySelectorAll) node.querySelectorAll(selector).forEach(UPGRADES[selector]);
  }
}

var start = guard(function () {
  scan(document.documentElement);
  new MutationObserver(guard(function (records) {
    records.forEach(function (record) { record.addedNodes.forEach(scan); });
    // A card taken out of the page stops listening.
    cards.forEach(function (state) { if (!state.host.isConnected) close(state); });
  })).observe(document.documentElement, { childList: true, subtree: true });
});

if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
else start();
})();
