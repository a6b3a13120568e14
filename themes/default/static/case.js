// Keeps the case page live: times in the reader's own zone and language, and a fresh
// server-rendered case whenever the stream reports a newer revision. Without JavaScript
// the page already shows everything; this only keeps it current.
(function () {
  "use strict";
  var lang = document.documentElement.lang || undefined;
  var relative = new Intl.RelativeTimeFormat(lang, { numeric: "auto" });
  var clock = new Intl.DateTimeFormat(lang, {
    weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit"
  });
  var units = [["day", 86400], ["hour", 3600], ["minute", 60]];

  function describe(date) {
    var seconds = (date.getTime() - Date.now()) / 1000;
    for (var i = 0; i < units.length; i++) {
      if (Math.abs(seconds) >= units[i][1]) {
        return relative.format(Math.round(seconds / units[i][1]), units[i][0]);
      }
    }
    return relative.format(0, "second");
  }

  function formatTimes(root) {
    var times = root.querySelectorAll("time[data-format]");
    for (var i = 0; i < times.length; i++) {
      var date = new Date(times[i].getAttribute("datetime"));
      if (isNaN(date.getTime())) continue;
      times[i].textContent = times[i].dataset.format === "clock" ? clock.format(date) : describe(date);
      times[i].title = date.toLocaleString(lang);
    }
  }

  function current() { return document.getElementById("case"); }

  function announce(text) {
    var region = document.querySelector("[data-announce]");
    if (region) region.textContent = text;
  }

  var refreshing = false;
  var wanted = 0;
  var again = false;  // the linked problem moved while the page was being fetched

  function refresh() {
    if (refreshing) {
      again = true;
      return;
    }
    refreshing = true;
    again = false;
    fetch(location.href, { cache: "no-store", credentials: "omit" })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        return response.text();
      })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var fresh = doc.getElementById("case");
        if (!fresh) throw new Error("no case in the page");
        var node = document.importNode(fresh, true);
        current().replaceWith(node);
        // The question "is it solved?" comes when the case (or the problem behind it) is resolved.
        var verdict = doc.getElementById("verdict");
        var follow = document.querySelector("section.follow");
        if (verdict && follow && !document.getElementById("verdict")) {
          follow.parentNode.insertBefore(document.importNode(verdict, true), follow);
        }
        formatTimes(node);
        document.title = doc.title;
        var heading = node.querySelector(".turn");
        // The words come from the page, in the reader's language.
        announce(node.dataset.updatedText + " " + (heading ? heading.textContent.replace(/\s+/g, " ").trim() : ""));
      })
      .catch(function (error) { console.warn("[tracker] could not refresh the case:", error); })
      .then(function () {
        refreshing = false;
        if (again || wanted > Number(current().dataset.revision)) refresh();
      });
  }

  function onChange(message) {
    try {
      var data = JSON.parse(message.data);
      wanted = Math.max(wanted, data.case.revision);
      if (wanted > Number(current().dataset.revision)) refresh();
    } catch (error) {
      console.warn("[tracker] unreadable live event:", error);
    }
  }

  formatTimes(document);
  setInterval(function () { formatTimes(document); }, 30000);

  if (!window.EventSource) return;
  var badge = document.querySelector("[data-live-status]");
  var source = new EventSource(location.pathname.replace(/\/$/, "") + "/events");
  source.addEventListener("case", onChange);
  source.addEventListener("change", onChange);
  // The problem the case is linked to moved: the page shows it before the case's own revision does.
  source.addEventListener("problem", function (message) {
    try {
      if (JSON.parse(message.data).problem.revision > Number(current().dataset.problemRevision)) refresh();
    } catch (error) {
      console.warn("[tracker] unreadable live event:", error);
    }
  });
  source.onopen = function () { if (badge) badge.hidden = false; };
  source.onerror = function () { if (badge) badge.hidden = true; };
})();

// "Share or copy the link": the phone's share sheet where there is one, else the clipboard.
(function () {
  "use strict";
  var button = document.querySelector("button.copy-link");
  if (!button || !(navigator.share || (navigator.clipboard && navigator.clipboard.writeText))) return;
  button.hidden = false;
  button.addEventListener("click", function () {
    var url = button.dataset.copy;
    var done = function () {
      var region = document.querySelector("[data-announce]");
      if (region) region.textContent = button.dataset.copiedText;
    };
    var copy = function () { return navigator.clipboard.writeText(url).then(done); };
    var shared = navigator.share ? navigator.share({ title: document.title, url: url }) : copy();
    shared.catch(function (error) {
      if (error && error.name === "AbortError") return;  // the reader closed the share sheet
      if (navigator.share && navigator.clipboard) return copy();
      console.warn("[tracker] could not share the link:", error);
    });
  });
})();

// "Notify me on this device": the browser asks its permission only after the reader's click,
// then tracker gets this browser's push subscription and encrypts each notification for it.
(function () {
  "use strict";
  var button = document.querySelector("button.push-subscribe");
  if (!button || !navigator.serviceWorker || !window.PushManager || !window.Notification) return;
  var status = button.parentNode.querySelector("[data-push-status]");
  button.parentNode.hidden = false;

  function applicationServerKey(text) {
    var binary = atob(text.replace(/-/g, "+").replace(/_/g, "/"));
    var bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    return bytes;
  }

  function subscribe() {
    return navigator.serviceWorker.register("/push-worker.js")
      .then(function () { return navigator.serviceWorker.ready; })
      .then(function (registration) {
        return registration.pushManager.subscribe({
          userVisibleOnly: true, applicationServerKey: applicationServerKey(button.dataset.key)
        });
      })
      .then(function (subscription) {
        return fetch(button.dataset.action, {
          method: "POST", credentials: "omit", headers: { "Content-Type": "application/json" },
          body: JSON.stringify({ push: subscription.toJSON() })
        });
      })
      .then(function (response) {
        if (!response.ok) throw new Error("HTTP " + response.status);
        button.hidden = true;
        status.textContent = button.dataset.onText;
      });
  }

  button.addEventListener("click", function () {
    button.disabled = true;
    Notification.requestPermission()
      .then(function (permission) {
        if (permission === "granted") return subscribe();
        status.textContent = button.dataset.blockedText;
      })
      .catch(function (error) {
        console.warn("[tracker] could not turn on notifications:", error);
        status.textContent = button.dataset.failedText;
      })
      .then(function () { button.disabled = false; });
  });
})();
