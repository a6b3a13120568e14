// tracker's service worker: shows the browser notifications of "Keep me updated" on this
// device. The payload (title, body, the case page, the link that stops them) is encrypted by
// tracker for this browser alone; the browser has decrypted it by the time it arrives here.
"use strict";

self.addEventListener("push", function (event) {
  var message;
  try {
    message = event.data.json();
  } catch (error) {
    return;
  }
  event.waitUntil(self.registration.showNotification(message.title, {
    body: message.body,
    tag: message.tag, // one notification per case: the newest replaces the one before
    renotify: true,
    data: { url: message.url, stop: message.stop },
    actions: message.stop ? [{ action: "stop", title: message.stop_text }] : []
  }));
});

self.addEventListener("notificationclick", function (event) {
  var data = event.notification.data || {};
  event.notification.close();
  if (event.action === "stop") {
    // The same one-click unsubscribe as a mail's (RFC 8058), to tracker's own origin.
    event.waitUntil(fetch(data.stop, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: "List-Unsubscribe=One-Click"
    }));
    return;
  }
  event.waitUntil(self.clients.matchAll({ type: "window" }).then(function (windows) {
    for (var i = 0; i < windows.length; i++) {
      if (windows[i].url === data.url) return windows[i].focus();
    }
    return self.clients.openWindow(data.url);
  }));
});
