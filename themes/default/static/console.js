// The console's one script: copy buttons. Without it the values stay in their read-only fields, to select and copy.
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
