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

// Answer by voice on the page: one large button, tap to record and tap again to send (no
// holding, for hands that tire). Without MediaRecorder (or a microphone), the form's file
// input stays: a phone offers its own recorder.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.querySelector("form.voice");
  if (!form || !window.MediaRecorder || !navigator.mediaDevices?.getUserMedia) return;
  const status = form.querySelector(".voice-status");
  const button = form.querySelector("button");
  const file = form.querySelector("input[type=file]");
  const label = form.querySelector("label");
  const sendsFile = button.textContent;
  file.hidden = label.hidden = true;
  button.textContent = form.dataset.record;
  button.type = "button";
  button.classList.add("record");
  let recorder = null;
  button.addEventListener("click", async () => {
    if (button.type === "submit") return;  // the form as it is without JavaScript: it posts the file
    if (recorder) {
      recorder.stop();
      return;
    }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    } catch {
      // No microphone here, or not allowed: the form as it is without JavaScript, a file to send
      // (a phone offers its own recorder).
      file.hidden = label.hidden = false;
      button.type = "submit";
      button.textContent = sendsFile;
      button.classList.remove("record");
      return;
    }
    const chunks = [];
    recorder = new MediaRecorder(stream, { audioBitsPerSecond: 32000 });
    recorder.addEventListener("dataavailable", (event) => chunks.push(event.data));
    recorder.addEventListener("stop", async () => {
      stream.getTracks().forEach((track) => track.stop());
      button.disabled = true;
      status.textContent = form.dataset.listening;
      document.body.classList.add("sending");
      const body = new FormData(form);
      body.set("audio", new Blob(chunks, { type: recorder.mimeType }), "answer.webm");
      let response = null;
      try {
        // The answer is a redirect to the page, which shows (and uses up) what the bot said about
        // the recording: followed here, out of sight, it would take that message with it.
        response = await fetch("/voice", {
          method: "POST",
          body,
          credentials: "same-origin",
          redirect: "manual",
        });
      } catch {
        // A dropped connection: said below.
      }
      const answered = response !== null && (response.type === "opaqueredirect" || response.status === 403);
      if (!answered) {
        // Lost on the way, or refused (too big, too many): say so, and let them try again.
        status.textContent = form.dataset.failed;
        button.disabled = false;
        button.textContent = form.dataset.record;
        button.removeAttribute("aria-pressed");
        document.body.classList.remove("sending");
        recorder = null;
        return;
      }
      window.location.assign("/");  // the read-back (or, for a stale page, where they stand)
    });
    recorder.start();
    button.textContent = form.dataset.stop;
    button.setAttribute("aria-pressed", "true");
    // A minute at most, as the bot takes.
    setTimeout(() => recorder && recorder.state === "recording" && recorder.stop(), 60000);
  });
});
