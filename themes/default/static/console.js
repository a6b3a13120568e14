// The console's one script: copy buttons, and sections marked data-live kept fresh. Without it the values sit in
// read-only fields to select and copy, and a Refresh link reloads the page.
"use strict";
for (const button of document.querySelectorAll("button[data-copy]")) {
  const field = document.getElementById(button.dataset.copy);
  const told = document.querySelector("[data-copied]");
  if (!field || !navigator.clipboard) continue;
  button.hidden = false;
  button.addEventListener("click", async () => {
    try {
      await navigator.clipboard.writeText(field.value);
      if (told) told.hidden = false;
    } catch (error) {
      field.select();
      console.warn("[tracker] copying failed; the text is selected", error);
    }
  });
}
const LIVE_SECONDS = 5;
async function refresh() {
  if (document.hidden) return;
  try {
    const answer = await fetch(location.href, {credentials: "same-origin", headers: {"Accept": "text/html"}});
    if (!answer.ok) return;
    const fresh = new DOMParser().parseFromString(await answer.text(), "text/html");
    for (const section of document.querySelectorAll("[data-live]")) {
      const newer = fresh.getElementById(section.id);
      if (newer && newer.innerHTML !== section.innerHTML) section.replaceWith(document.adoptNode(newer));
    }
  } catch (error) {
    console.warn("[tracker] could not refresh", error);
  }
}
if (document.querySelector("[data-live]")) setInterval(refresh, LIVE_SECONDS * 1000);
// The look page: its previews follow the form as it is filled in (without the script, "Preview without saving").
const PREVIEWED = ["name", "theme", "logo_url", "accent_colour", "support_url", "language"];
const looks = document.querySelector("form[data-preview]");
let pending = 0;
looks?.addEventListener("input", () => {
  clearTimeout(pending);
  pending = setTimeout(() => {
    const query = new URLSearchParams();
    for (const name of PREVIEWED) if (looks.elements[name]) query.set(name, looks.elements[name].value.trim());
    for (const frame of document.querySelectorAll("iframe[data-preview-src]")) {
      frame.src = `${frame.dataset.previewSrc}?${query}`;
    }
  }, 400);
});
