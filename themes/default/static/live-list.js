// Keeps a page of many cases live (the status page's problems, a customer's own cases): when
// its stream (main's data-events) says one moved or a new one came, the page's list is fetched
// again, server-rendered in the reader's language. Without JavaScript the page is complete.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !window.EventSource) return;
  var busy = false;
  function refresh() {
    if (busy) return;
    busy = true;
    fetch(location.href, { cache: "no-store", credentials: "omit" })
      .then(function (response) { return response.text(); })
      .then(function (html) {
        var fresh = new DOMParser().parseFromString(html, "text/html").getElementById("main");
        if (fresh) {
          main.replaceWith(document.importNode(fresh, true));
          main = document.getElementById("main");
        }
      })
      .catch(function (error) { console.warn("[tracker] could not refresh the list:", error); })
      .then(function () { busy = false; });
  }
  var source = new EventSource(main.dataset.events);
  source.addEventListener("change", refresh);
  source.addEventListener("added", refresh);
})();
