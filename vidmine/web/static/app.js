// vidmine serve: a little plain JavaScript, no build step.
// Video page: seek to ?t= and play, clickable timestamps, transcript that follows playback.
// Library page: upload by file picker or drag-and-drop, with progress.
"use strict";

// A thumbnail that fails to load is hidden, not shown broken. Here, not in an onerror
// attribute: the Content-Security-Policy runs no inline script. An image may have failed
// before this deferred script ran, so those are caught by their state.
(function hideMissingImages() {
  const hide = (img) => img.classList.add("missing");
  document.querySelectorAll("img").forEach((img) => {
    if (img.complete && img.naturalWidth === 0 && img.getAttribute("src")) hide(img);
    img.addEventListener("error", () => hide(img));
  });
})();

(function videoPage() {
  const player = document.getElementById("player");
  if (!player) return;

  function play() {
    const attempt = player.play();
    if (attempt === undefined) return;
    attempt.catch(() => {
      // Browsers may refuse sound before the user interacts with the page: play muted.
      player.muted = true;
      document.getElementById("autoplay-note").hidden = false;
      player.play().catch(() => {});
    });
  }

  function seek(seconds) {
    if (player.readyState >= 1) {
      player.currentTime = seconds;
      play();
    } else {
      player.addEventListener("loadedmetadata", () => { player.currentTime = seconds; play(); }, { once: true });
    }
  }

  const start = parseFloat(player.dataset.start || "0");
  if (new URLSearchParams(location.search).has("t")) seek(start);

  document.querySelectorAll("[data-seek]").forEach((link) => {
    link.addEventListener("click", (event) => {
      event.preventDefault();
      const seconds = parseFloat(link.dataset.seek);
      history.replaceState(null, "", "?t=" + seconds);
      seek(seconds);
    });
  });

  const segments = Array.from(document.querySelectorAll("#transcript li[data-start]"));
  // The word being spoken, inside the segment being spoken (words carry their own times).
  let activeWord = null;
  function markWord(segment, now) {
    let word = null;
    if (segment) {
      word = Array.from(segment.querySelectorAll(".word")).find(
        (span) => now >= parseFloat(span.dataset.start) && now < parseFloat(span.dataset.end)) || null;
    }
    if (word === activeWord) return;
    if (activeWord) activeWord.classList.remove("speaking");
    if (word) word.classList.add("speaking");
    activeWord = word;
  }
  const follow = document.getElementById("follow");
  let active = null;
  player.addEventListener("timeupdate", () => {
    const now = player.currentTime;
    const current = segments.find((li) => now >= parseFloat(li.dataset.start) && now < parseFloat(li.dataset.end)) || null;
    markWord(current, now);
    if (current === active) return;
    if (active) active.classList.remove("active");
    if (current) {
      current.classList.add("active");
      if (follow && follow.checked) current.scrollIntoView({ block: "nearest", behavior: "smooth" });
    }
    active = current;
  });
})();

// Video page: name a speaker; the new name shows at once in the transcript beside the list.
(function speakerNames() {
  const box = document.getElementById("speakers");
  if (!box) return;
  const status = box.querySelector(".rename-status");
  box.querySelectorAll("form.rename").forEach((form) => {
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const speaker = form.dataset.speaker;
      const name = form.elements.name.value;
      const url = "/api/videos/" + encodeURIComponent(box.dataset.video) + "/speakers/" + encodeURIComponent(speaker);
      fetch(url, {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify({ name: name }),
        credentials: "same-origin",
      }).then((answer) => answer.json().then((body) => ({ ok: answer.ok, body: body })))
        .then(({ ok, body }) => {
          if (!ok) { status.textContent = "Not saved: " + (body.error || "error"); return; }
          form.elements.name.value = body.name;
          document.querySelectorAll('#transcript .speaker[data-speaker="' + CSS.escape(speaker) + '"]')
            .forEach((label) => { label.textContent = body.name; });
          status.textContent = "Saved: " + body.name + ".";
        })
        .catch(() => { status.textContent = "Not saved: the connection was lost."; });
    });
  });
})();

(function uploadForm() {
  const form = document.getElementById("upload-form");
  if (!form) return;
  const input = document.getElementById("file-input");
  const zone = document.getElementById("dropzone");
  const bar = document.getElementById("upload-progress");
  const status = document.getElementById("upload-status");
  const profile = document.getElementById("profile");

  function upload(file) {
    const data = new FormData();
    if (profile && profile.value) data.append("profile", profile.value);
    data.append("file", file);
    const request = new XMLHttpRequest();
    request.open("POST", "/api/uploads");
    bar.hidden = false;
    bar.value = 0;
    status.textContent = "Uploading " + file.name + "…";
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) {
        bar.value = Math.round((100 * event.loaded) / event.total);
        status.textContent = "Uploading " + file.name + ": " + bar.value + " %";
      }
    });
    request.addEventListener("load", () => {
      let answer = {};
      try { answer = JSON.parse(request.responseText); } catch (err) { answer = {}; }
      if (request.status === 201) {
        bar.value = 100;
        status.textContent = "Uploaded " + answer.file_name + ".";
        setTimeout(() => location.reload(), 800);
      } else {
        bar.hidden = true;
        status.textContent = "Upload refused: " + (answer.error || request.statusText);
      }
    });
    request.addEventListener("error", () => {
      bar.hidden = true;
      status.textContent = "Upload failed: the connection was lost.";
    });
    request.send(data);
  }

  input.addEventListener("change", () => { if (input.files.length) upload(input.files[0]); });
  ["dragenter", "dragover"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.add("dragging");
  }));
  ["dragleave", "drop"].forEach((name) => zone.addEventListener(name, (event) => {
    event.preventDefault();
    zone.classList.remove("dragging");
  }));
  zone.addEventListener("drop", (event) => {
    if (event.dataTransfer.files.length) upload(event.dataTransfer.files[0]);
  });
})();

// The library refreshes itself while anything is waiting or processing (the server marks
// it with #auto-refresh), except while a file is being uploaded from this page.
(function autoRefresh() {
  const marker = document.getElementById("auto-refresh");
  if (!marker) return;
  const seconds = parseFloat(marker.dataset.seconds || "10");
  setTimeout(function reloadWhenIdle() {
    const bar = document.getElementById("upload-progress");
    if ((bar && !bar.hidden) || document.hidden) {
      setTimeout(reloadWhenIdle, 2000);
      return;
    }
    location.reload();
  }, seconds * 1000);
})();
