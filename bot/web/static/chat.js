// A little help where JavaScript runs; the page works the same without it.
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // Focus the newest message: a screen reader reads the new question, and the page shows it.
  // Not the text box: on a phone that would open the keyboard over the answer buttons.
  const messages = document.querySelectorAll("#messages .message");
  const newest = messages[messages.length - 1];
  if (newest) {
    newest.setAttribute("tabindex", "-1");
    newest.focus();
    newest.scrollIntoView({ block: "end" });
  }
});
