// The player bar (base.html): one <audio> outside <main> that keeps playing while you browse, a play
// queue kept in sessionStorage (a reload restores it, position included), seeking, and the keys
// space (play / pause), [ (previous) and ] (next). Plain JS, no dependencies.
//
// Navigation: <body hx-boost="true"> makes htmx fetch the next page for links and GET forms; this
// file swaps only its <main id="main"> (the title follows), so this bar and its audio survive.
// Anything that is not one of our pages (an error, JSON, a redirect to the login page) loads in full,
// and so does every page while the queue is empty (nothing to keep alive).
//
// Play buttons anywhere in a page:
//   <button data-play="PK" data-title="…" data-artist="…">   plays that track
//   <button data-play-all="#container">                      queues every [data-play] inside, in order
// From code: window.player.playTracks([{id, title, artist}], startIndex).
(() => {
  "use strict";

  const KEY = "djp.player";
  const bar = document.getElementById("player");
  const audio = document.getElementById("player-audio");
  if (!bar || !audio) return;

  const $ = (selector) => bar.querySelector(selector);
  const ui = {
    title: $("[data-player-title]"),
    artist: $("[data-player-artist]"),
    time: $("[data-player-time]"),
    duration: $("[data-player-duration]"),
    seek: $("[data-player-seek]"),
    queue: $("[data-player-queue]"),
    error: $("[data-player-error]"),
    prev: $('[data-player="prev"]'),
    toggle: $('[data-player="toggle"]'),
    next: $('[data-player="next"]'),
  };

  // --- the queue ------------------------------------------------------------------------------------

  const track = (t) => ({ id: Number(t.id), title: String(t.title || `Track ${t.id}`), artist: t.artist ? String(t.artist) : "" });
  const valid = (t) => t && Number.isInteger(Number(t.id)) && Number(t.id) > 0;

  function restore() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(KEY) || "null");
      if (saved && Array.isArray(saved.queue)) {
        const queue = saved.queue.filter(valid).map(track);
        const index = Math.min(Math.max(0, Number(saved.index) || 0), Math.max(0, queue.length - 1));
        return { queue, index, time: Number(saved.time) || 0, playing: !!saved.playing };
      }
    } catch { /* a corrupt entry: start empty */ }
    return { queue: [], index: 0, time: 0, playing: false };
  }

  const state = restore();
  const current = () => state.queue[state.index] || null;

  let pendingSeek = null; // a restored position, applied once the file's metadata is in

  function save() {
    if (current() && audio.src) {
      state.time = pendingSeek ?? (audio.currentTime || 0);
      state.playing = !audio.paused && !audio.ended;
    }
    try {
      sessionStorage.setItem(KEY, JSON.stringify(state));
    } catch { /* storage full or disabled: the queue lives for this page only */ }
  }

  // --- playback ---------------------------------------------------------------------------------------

  function showError(text) {
    ui.error.textContent = text || "";
  }

  function load(index, { autoplay = true, time = 0 } = {}) {
    if (index < 0 || index >= state.queue.length) return;
    state.index = index;
    state.time = time;
    showError("");
    const t = current();
    pendingSeek = time > 0 ? time : null;
    audio.src = `/api/tracks/${t.id}/audio`;
    if (pendingSeek !== null) {
      const src = audio.src;
      audio.addEventListener("loadedmetadata", () => {
        if (audio.src !== src) return; // another track was loaded meanwhile
        if (pendingSeek !== null) audio.currentTime = Math.min(pendingSeek, audio.duration || pendingSeek);
        pendingSeek = null;
      }, { once: true });
    }
    render();
    if (autoplay) play();
    save();
  }

  function play() {
    if (!current()) return;
    if (!audio.src) return load(state.index, { autoplay: true, time: state.time });
    const promise = audio.play();
    if (promise) {
      promise.catch((err) => {
        // NotAllowedError: the browser wants a click first (after a reload). AbortError: src changed.
        if (err && err.name === "NotAllowedError") showError("Press play to resume.");
        render();
      });
    }
  }

  function pause() {
    audio.pause();
  }

  function toggle() {
    if (!current()) return;
    if (audio.paused || audio.ended) play();
    else pause();
  }

  function next() {
    if (state.index < state.queue.length - 1) load(state.index + 1);
  }

  function prev() {
    if (!current()) return;
    if (audio.currentTime > 3 || state.index === 0) {
      audio.currentTime = 0;
      if (audio.paused) play();
    } else {
      load(state.index - 1);
    }
  }

  /** Replace the queue with these tracks and play the one at startIndex. */
  function playTracks(tracks, startIndex = 0) {
    const queue = (tracks || []).filter(valid).map(track);
    if (!queue.length) return;
    state.queue = queue;
    load(Math.min(Math.max(0, startIndex | 0), queue.length - 1));
  }

  // --- the bar ----------------------------------------------------------------------------------------

  function clock(seconds) {
    if (!Number.isFinite(seconds) || seconds < 0) return "0:00";
    const s = Math.floor(seconds);
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const rest = String(s % 60).padStart(2, "0");
    return h ? `${h}:${String(m).padStart(2, "0")}:${rest}` : `${m}:${rest}`;
  }

  let dragging = false;

  function renderTime() {
    const duration = Number.isFinite(audio.duration) ? audio.duration : 0;
    ui.seek.max = String(duration);
    ui.seek.disabled = !current() || !duration;
    if (!dragging) {
      ui.seek.value = String(audio.currentTime || 0);
      ui.time.textContent = clock(audio.currentTime);
    }
    ui.duration.textContent = clock(duration);
  }

  function setTitleLink(t) {
    // A fresh <a> (htmx reads a boosted link's href when it processes it).
    const link = document.createElement("a");
    link.className = ui.title.className;
    link.setAttribute("data-player-title", "");
    if (t) {
      link.href = `/tracks/${t.id}`;
      link.textContent = t.title;
      link.title = `${t.title}${t.artist ? ` — ${t.artist}` : ""}`;
    } else {
      link.textContent = "Nothing playing";
    }
    ui.title.replaceWith(link);
    ui.title = link;
    if (window.htmx) window.htmx.process(link);
  }

  let shownId = null;

  function render() {
    const t = current();
    const id = t ? t.id : null;
    if (id !== shownId || !ui.title.isConnected) {
      setTitleLink(t);
      shownId = id;
    }
    ui.artist.textContent = t ? t.artist : "";
    const playing = !!t && !audio.paused && !audio.ended;
    ui.toggle.setAttribute("aria-label", playing ? "Pause" : "Play");
    ui.toggle.disabled = !t;
    ui.prev.disabled = !t;
    ui.next.disabled = !t || state.index >= state.queue.length - 1;
    const n = state.queue.length;
    ui.queue.textContent = n ? `${state.index + 1} / ${n} queued` : "0 queued";
    bar.classList.toggle("active", !!t);
    bar.classList.toggle("playing", playing);
    renderTime();
    markButtons();
  }

  function markButtons(root = document) {
    const t = current();
    for (const button of root.querySelectorAll("[data-play]")) {
      const on = !!t && Number(button.getAttribute("data-play")) === t.id;
      button.classList.toggle("current", on);
      button.setAttribute("aria-pressed", on && !audio.paused ? "true" : "false");
    }
  }

  // --- events ------------------------------------------------------------------------------------------

  let lastSave = 0;
  audio.addEventListener("timeupdate", () => {
    renderTime();
    if (Date.now() - lastSave > 2000) { lastSave = Date.now(); save(); }
  });
  for (const name of ["play", "pause", "loadedmetadata", "durationchange", "emptied"]) {
    audio.addEventListener(name, () => { render(); save(); });
  }
  audio.addEventListener("playing", () => showError("")); // e.g. "Press play to resume."
  audio.addEventListener("ended", () => {
    if (state.index < state.queue.length - 1) load(state.index + 1);
    else { render(); save(); }
  });
  audio.addEventListener("error", async () => {
    const t = current();
    if (!t || !audio.src) return;
    let detail = "this track cannot be played";
    try {
      // Ask for one byte to learn why (no audio yet, file missing, logged out...).
      const response = await fetch(audio.src, { headers: { Range: "bytes=0-0" } });
      if (!response.ok) {
        const body = await response.json().catch(() => null);
        detail = (body && body.detail) || `${response.status} ${response.statusText}`;
      } else {
        detail = "the browser cannot decode this audio file";
      }
    } catch { /* keep the generic message */ }
    showError(`${t.title}: ${detail}`);
    render();
  });

  ui.seek.addEventListener("pointerdown", () => { dragging = true; });
  ui.seek.addEventListener("input", () => {
    if (dragging) ui.time.textContent = clock(Number(ui.seek.value));
    else audio.currentTime = Number(ui.seek.value); // keyboard: seek at once
  });
  ui.seek.addEventListener("change", () => {
    dragging = false;
    pendingSeek = null;
    audio.currentTime = Number(ui.seek.value);
    renderTime();
  });

  bar.addEventListener("click", (event) => {
    const button = event.target.closest("[data-player]");
    if (!button) return;
    const action = button.getAttribute("data-player");
    if (action === "toggle") toggle();
    else if (action === "next") next();
    else if (action === "prev") prev();
  });

  function fromButton(button) {
    return { id: button.getAttribute("data-play"), title: button.getAttribute("data-title"),
             artist: button.getAttribute("data-artist") };
  }

  document.addEventListener("click", (event) => {
    const one = event.target.closest("[data-play]");
    if (one) {
      event.preventDefault();
      const t = current();
      if (t && t.id === Number(one.getAttribute("data-play"))) toggle(); // the playing track: pause / resume
      else playTracks([fromButton(one)], 0);
      return;
    }
    const all = event.target.closest("[data-play-all]");
    if (all) {
      event.preventDefault();
      const selector = all.getAttribute("data-play-all");
      const scope = (selector && document.querySelector(selector)) || all.closest("section") || document;
      const tracks = [...scope.querySelectorAll("[data-play]")].map(fromButton);
      if (tracks.length) playTracks(tracks, 0);
      else showError("None of these tracks has audio yet.");
    }
  });

  // Keys: not while typing in a field; never with Ctrl/Cmd/Alt (the browser's own shortcuts).
  function typing(target) {
    if (!target || !(target instanceof Element)) return false;
    if (target.isContentEditable) return true;
    const tag = target.tagName;
    if (tag === "TEXTAREA" || tag === "SELECT") return true;
    if (tag === "INPUT") return !["range", "button", "submit", "reset"].includes((target.type || "").toLowerCase());
    return false;
  }

  let spaceHandled = false;
  document.addEventListener("keydown", (event) => {
    // AltGr (Ctrl+Alt on Windows) is how many layouts type [ and ]: that is not a shortcut.
    const altGraph = event.getModifierState && event.getModifierState("AltGraph");
    const modified = event.metaKey || ((event.ctrlKey || event.altKey) && !altGraph);
    if (event.defaultPrevented || modified || typing(event.target)) return;
    if (!current()) return;
    if (event.key === " " || event.code === "Space") {
      event.preventDefault(); // no page scroll, no click on a focused button
      spaceHandled = true;
      if (!event.repeat) toggle();
    } else if (event.key === "[") {
      event.preventDefault();
      prev();
    } else if (event.key === "]") {
      event.preventDefault();
      next();
    }
  });
  document.addEventListener("keyup", (event) => {
    if (spaceHandled && (event.key === " " || event.code === "Space")) {
      event.preventDefault(); // a focused button would otherwise fire on key up
      spaceHandled = false;
    }
  });

  window.addEventListener("pagehide", save);

  // --- boosted navigation: swap only <main> -------------------------------------------------------------

  function isOurPage(xhr) {
    const type = xhr.getResponseHeader("Content-Type") || "";
    if (!type.includes("text/html")) return false;
    const url = new URL(xhr.responseURL || location.href, location.href);
    if (url.pathname === "/login") return false; // the session ended: a full page, without this bar
    return /<main\b[^>]*\bid="main"/.test(xhr.responseText || "");
  }

  // With nothing queued there is nothing to keep alive: links and forms then load the classic way
  // (a plain page load, as without htmx). Once something is queued, navigation is boosted.
  const VERBS = ["get", "post", "put", "patch", "delete"];
  const explicit = (elt) => VERBS.some((v) => elt.hasAttribute(`hx-${v}`) || elt.hasAttribute(`data-hx-${v}`));
  document.addEventListener("htmx:confirm", (event) => {
    const elt = event.detail.elt;
    if (current() || !elt || explicit(elt)) return;
    if (elt.tagName === "A" && elt.href) {
      event.preventDefault();
      location.assign(elt.href);
    } else if (elt.tagName === "FORM") {
      event.preventDefault();
      HTMLFormElement.prototype.submit.call(elt);
    }
  });

  document.addEventListener("htmx:beforeSwap", (event) => {
    const detail = event.detail;
    if (!detail.boosted) return;
    const main = document.getElementById("main");
    if (!main || detail.isError || !isOurPage(detail.xhr)) {
      event.preventDefault();
      const verb = detail.requestConfig && detail.requestConfig.verb;
      if (verb === "get" || !verb) location.assign(detail.xhr.responseURL || detail.pathInfo.requestPath);
      else showError(`${detail.xhr.status} ${detail.xhr.statusText}`);
      return;
    }
    detail.target = main;
    detail.selectOverride = "#main";
    detail.swapOverride = "outerHTML show:window:top"; // a new page starts at its top, header included
  });
  // A request that never got an answer (server down): load the page the classic way.
  document.addEventListener("htmx:sendError", (event) => {
    const detail = event.detail;
    if (detail.boosted && detail.requestConfig && detail.requestConfig.verb === "get") {
      location.assign(detail.pathInfo.requestPath);
    }
  });
  document.addEventListener("htmx:afterSettle", () => markButtons());
  document.addEventListener("htmx:historyRestore", () => markButtons());

  /** Reload the current page's <main> without touching the player (e.g. after an upload). */
  function refreshMain(path) {  // path: this page with other query parameters (default: as it is)
    if (!window.htmx || !document.getElementById("main")) return path ? location.assign(path) : location.reload();
    return window.htmx.ajax("GET", path || location.pathname + location.search,
                            { target: "#main", select: "#main", swap: "outerHTML" });
  }

  // --- start ---------------------------------------------------------------------------------------------

  if (current()) {
    const resume = state.playing;
    load(state.index, { autoplay: resume, time: state.time });
  } else {
    render();
  }

  window.player = { playTracks, play, pause, toggle, next, prev, queue: () => state.queue.slice(), current };
  window.playTracks = playTracks;
  window.djpRefreshMain = refreshMain;
})();
