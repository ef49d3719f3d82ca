// "Add your audio files" on a library page: each chosen file (or every audio file of a chosen folder) is sent,
// one at a time, to POST /api/libraries/{id}/audio-files, which matches it to a track by its tags or name.
// A live table says what became of each; a close call offers its candidates, and choosing one uploads the
// same file to that track (POST /api/tracks/{pk}/audio). Text is only ever set as textContent.
(() => {
  "use strict";
  if (window.djpAudioImport) return; // boosted navigations may load this script again
  window.djpAudioImport = true;

  const AUDIO = /\.(mp3|m4a|aac|mp4|flac|wav|aif|aiff|ogg|oga|opus)$/i;
  const WORDS = {
    attached: "attached", created: "added as a new track", has_audio: "already has audio",
    ambiguous: "choose a track", unmatched: "no match",
    refused: "refused",
  };

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs)) {
      if (name === "text") node.textContent = value; else node.setAttribute(name, value);
    }
    children.forEach((child) => node.append(child));
    return node;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  /** Send one file; resolves to {ok, status, data, detail} (detail: app.js's message for a refusal). A busy server (503) is asked again after its
   *  Retry-After, three times at most. */
  async function send(url, file) {
    for (let attempt = 0; ; attempt += 1) {
      const body = new FormData();
      body.append("file", file, file.name);
      let response;
      try {
        response = await fetch(url, { method: "POST", body, headers: { Accept: "application/json" },
                                      credentials: "same-origin" });
      } catch {
        return { ok: false, status: 0, data: null, detail: "network error: is the server running?" };
      }
      if (response.status === 503 && attempt < 3) {
        await sleep(1000 * (Number(response.headers.get("Retry-After")) || 1));
        continue;
      }
      if (!response.ok) return { ok: false, status: response.status, data: null, detail: await window.djpErrorOf(response) };
      try {
        return { ok: true, status: response.status, data: await response.json(), detail: null };
      } catch {
        return { ok: false, status: response.status, data: null, detail: "the server's answer was not readable" };
      }
    }
  }

  const trackLink = (pk, text) => el("a", { href: `/tracks/${pk}`, text });
  const named = (c) => `${c.artist || "?"} – ${c.title}${c.position ? ` (${c.position})` : ""}`;

  function outcome(row, status, ...details) {
    const [, state, detail] = row.children;
    state.replaceChildren(el("span", { class: `badge import-${status}`, text: WORDS[status] || status }));
    detail.replaceChildren(...details);
    row.dataset.status = status;
  }

  function show(row, file, result, counts) {
    if (!result.ok) {
      outcome(row, "refused", result.detail || "refused");
      return "refused";
    }
    const done = result.data;
    if (done.status === "attached" || done.status === "has_audio" || done.status === "created") {
      const best = done.candidates.find((c) => c.track_pk === done.track_pk) ||
        { artist: done.tags.artist, title: done.tags.title || `track ${done.track_pk}` };
      const extra = done.analysis_error ? ` · not analysed: ${done.analysis_error}` : (done.analysis ? " · analysing" : "");
      const how = done.status === "created" ? ` · read from ${done.tags.source === "tags" ? "its tags" : "its name"}`
        : ` · match ${done.score.toFixed(2)}`;
      outcome(row, done.status, trackLink(done.track_pk, named(best)), `${how}${extra}`);
    } else if (done.status === "ambiguous") {
      const choices = done.candidates.map((c) => {
        const button = el("button", { type: "button", class: "secondary small",
                                      text: `${named(c)} · ${c.score.toFixed(2)}${c.has_audio ? " · has audio" : ""}` });
        button.addEventListener("click", async () => {
          row.querySelectorAll("button").forEach((b) => { b.disabled = true; });
          const chosen = await send(`/api/tracks/${c.track_pk}/audio`, file);
          if (chosen.ok) {
            counts.ambiguous -= 1;
            counts.attached += 1;
            outcome(row, "attached", trackLink(c.track_pk, named(c)), " · chosen by you");
            counts.render();
          } else {
            row.querySelectorAll("button").forEach((b) => { b.disabled = false; });
            window.djpShowError?.(row, chosen.detail);
          }
        });
        return button;
      });
      outcome(row, "ambiguous", "Which track is it? ", el("span", { class: "choices" }, ...choices));
    } else {
      const q = [done.tags.artist, done.tags.title].filter(Boolean).join(" ");
      const read = [done.tags.artist, done.tags.title].filter(Boolean).join(" – ");
      const from = done.tags.source === "tags" ? "its tags" : "its name";
      outcome(row, "unmatched", `read as “${read || file.name}” from ${from} · `,
              el("a", { href: `/tracks?q=${encodeURIComponent(q)}`, text: "search your tracks" }));
    }
    return done.status;
  }

  document.addEventListener("submit", async (event) => {
    const form = event.target.closest("form[data-audio-import]");
    if (!form) return;
    event.preventDefault();
    const chosen = [...form.querySelectorAll("input[type=file]")].flatMap((input) => [...input.files]);
    // Hidden files are skipped, as the CLI does: macOS's "._Track.mp3" copies carry an audio name but no audio.
    const hidden = (f) => (f.webkitRelativePath || f.name).split("/").some((part) => part.startsWith("."));
    const files = chosen.filter((f) => AUDIO.test(f.name) && !hidden(f));
    const panel = document.getElementById("audio-import-results");
    const note = form.querySelector("[data-errors]");
    note.textContent = "";
    if (!files.length) {
      note.textContent = chosen.length ? "None of the chosen files is audio (mp3, m4a, flac, wav, aiff, ogg, opus)."
        : "Choose files or a folder first.";
      return;
    }
    const options = new URLSearchParams();
    if (form.querySelector("[name=replace]").checked) options.set("replace", "true");
    if (form.querySelector("[name=add_unmatched]").checked) options.set("add_unmatched", "true");
    const query = options.toString();
    const url = `/api/libraries/${form.dataset.libraryId}/audio-files${query ? `?${query}` : ""}`;
    const start = form.querySelector("button[type=submit]");
    const stop = form.querySelector("[data-stop]");
    const bar = el("progress", { max: String(files.length), value: "0" });
    const summary = el("p", { role: "status", "aria-live": "polite" });
    const body = el("tbody");
    const counts = { attached: 0, has_audio: 0, ambiguous: 0, unmatched: 0, refused: 0, sent: 0 };
    counts.render = () => {
      summary.textContent = `${counts.sent} of ${files.length} · ` + Object.keys(WORDS)
        .filter((k) => counts[k]).map((k) => `${WORDS[k]} ${counts[k]}`).join(", ");
    };
    panel.replaceChildren(bar, summary, el("div", { class: "table-wrap" }, el("table", { id: "audio-import-table" },
      el("thead", {}, el("tr", {}, el("th", { text: "File" }), el("th", { text: "Outcome" }), el("th", { text: "Track" }))),
      body)));
    panel.hidden = false;
    let stopped = false;
    const onStop = () => { stopped = true; stop.disabled = true; };
    stop.addEventListener("click", onStop, { once: true });
    start.disabled = true;
    stop.hidden = false;
    stop.disabled = false;
    counts.render();
    for (const file of files) {
      if (stopped) break;
      const row = el("tr", {}, el("td", { text: file.webkitRelativePath || file.name }), el("td", { text: "sending…" }),
                     el("td"));
      body.append(row);
      const status = show(row, file, await send(url, file), counts);
      counts[status] = (counts[status] || 0) + 1;
      counts.sent += 1;
      bar.value = counts.sent;
      counts.render();
    }
    if (stopped) summary.textContent += ` · stopped (${files.length - counts.sent} not sent)`;
    stop.removeEventListener("click", onStop);
    stop.hidden = true;
    start.disabled = false;
  });
})();
