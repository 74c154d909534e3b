// A little help where JavaScript runs; the page works the same without it.
"use strict";
// One answer per page: a second tap (a double tap, a tremor) before the next page arrives
// sends nothing more. The server ignores such a tap too, but this spares the round trip
// and shows that the first one was taken.
let sent = false;
document.addEventListener("submit", (event) => {
  if (sent) {
    event.preventDefault();
    return;
  }
  sent = true;
  document.body.classList.add("sending");
  document.getElementById("messages")?.setAttribute("aria-busy", "true");
});
// Back to this page from the browser's cache: it may be answered again.
window.addEventListener("pageshow", () => {
  sent = false;
  document.body.classList.remove("sending");
  document.getElementById("messages")?.removeAttribute("aria-busy");
});
