// Live background jobs for every page: one EventSource on /api/jobs/events (event "update", data = a
// JobView) shared by the widgets below, opened while a page shows one and closed when none is left.
// If the stream cannot be opened (e.g. logged out) it falls back to polling GET /api/jobs.
//
// Widgets (plain HTML, found by data attributes, so pages swapped in by htmx just work):
//   [data-download-box] > button[data-download=URL] + [data-download-result]
//       POSTs to URL (a track's download -> a JobView, an album's/playlist's -> {queued, ...});
//       shows what was queued, or the error's detail next to the button.
//   [data-job-track=PK]   the stage and progress of the track's download (live, or started here);
//       with data-refresh-on-done the page's <main> reloads when it is done, else a play button appears.
//   table[data-jobs-table] the Jobs page: rows updated in place, new jobs inserted, Cancel / Retry.
(() => {
  "use strict";

  const LIVE = ["queued", "started", "scheduled", "deferred"];
  const watchers = new Set(); // {el, fn}
  const latest = new Map(); // job id -> the last JobView seen, in arrival order
  const mine = new Set(); // ids of jobs queued from this page (shown even once they are over)
  const refreshed = new Set(); // jobs whose completion already reloaded the page
  let source = null;
  let pollTimer = null;

  // --- the shared stream --------------------------------------------------------------------------

  function connect() {
    if (source || pollTimer) return;
    if (!("EventSource" in window)) return startPolling();
    source = new EventSource("/api/jobs/events");
    source.addEventListener("update", (event) => {
      let job;
      try { job = JSON.parse(event.data); } catch { return; }
      deliver(job);
    });
    source.addEventListener("unavailable", (event) => {
      let detail = "job queue unavailable";
      try { detail = JSON.parse(event.data).detail || detail; } catch { /* keep the default */ }
      document.dispatchEvent(new CustomEvent("djp:jobs-unavailable", { detail }));
    });
    source.addEventListener("open", () => document.dispatchEvent(new CustomEvent("djp:jobs-live")));
    source.onerror = () => {
      // The browser reconnects by itself unless the stream was refused (401, 503...): then poll.
      if (source && source.readyState === EventSource.CLOSED) {
        source = null;
        startPolling();
      }
    };
  }

  function startPolling() {
    if (pollTimer) return;
    pollTimer = setInterval(poll, 2000);
    poll();
  }

  async function poll() {
    let list;
    try {
      const response = await fetch("/api/jobs?limit=100", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      list = await response.json();
    } catch { return; }
    for (const job of list.reverse()) {
      const before = latest.get(job.id);
      if (!before || before.status !== job.status || before.stage !== job.stage || before.percent !== job.percent) {
        deliver(job);
      }
    }
  }

  function prune() {
    for (const w of watchers) if (!w.el.isConnected) watchers.delete(w);
    if (watchers.size) return;
    if (source) { source.close(); source = null; }
    if (pollTimer) { clearInterval(pollTimer); pollTimer = null; }
    latest.clear(); // a new stream starts with a full snapshot
  }

  function deliver(job) {
    if (!job || !job.id) return;
    const previous = latest.get(job.id);
    latest.delete(job.id);
    latest.set(job.id, job);
    for (const w of [...watchers]) {
      if (!w.el.isConnected) { watchers.delete(w); continue; }
      try { w.fn(job, previous); } catch (err) { console.error(err); }
    }
  }

  /** Call fn(job, previousJob) for every job update while el is in the page. A lazy watcher does not
   *  open the stream by itself (see primeCells). */
  function watch(el, fn, { lazy = false } = {}) {
    const w = { el, fn };
    watchers.add(w);
    for (const job of latest.values()) fn(job, undefined);
    if (!lazy) connect();
    return () => watchers.delete(w);
  }

  // --- helpers ------------------------------------------------------------------------------------

  /** POST JSON to our API; resolves to {ok, status, data, detail} (detail: the error's message). */
  async function post(url, body) {
    let response;
    try {
      response = await fetch(url, {
        method: "POST",
        headers: { Accept: "application/json", ...(body === undefined ? {} : { "Content-Type": "application/json" }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        credentials: "same-origin",
      });
    } catch {
      return { ok: false, status: 0, data: null, detail: "network error: is the server running?" };
    }
    let data = null;
    try { data = await response.json(); } catch { /* not JSON */ }
    let detail = null;
    if (!response.ok) {
      detail = (data && typeof data.detail === "string" && data.detail) || `${response.status} ${response.statusText}`;
      if (response.status === 401) detail = "you are logged out: log in again";
    }
    return { ok: response.ok, status: response.status, data, detail };
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (value === null || value === undefined || value === false) continue;
      if (key === "className") node.className = value;
      else if (key === "style") node.style.cssText = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children) if (child !== null && child !== undefined) node.append(child);
    return node;
  }

  function progressBar(percent) {
    const pct = Math.max(0, Math.min(100, Number(percent) || 0));
    return el("div", { className: "progress", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100",
                       "aria-valuenow": String(pct) }, el("div", { style: `width: ${pct}%` }));
  }

  function parseDate(value) {
    if (!value) return null;
    // RQ's timestamps may come without a zone: they are UTC.
    const text = /([zZ]|[+-]\d\d:?\d\d)$/.test(value) ? value : `${value}Z`;
    const date = new Date(text);
    return Number.isNaN(date.getTime()) ? null : date;
  }

  function formatDate(date) {
    const pad = (n) => String(n).padStart(2, "0");
    return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())} `
      + `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
  }

  function localizeTimes(root) {
    for (const t of root.querySelectorAll("time[datetime]")) {
      const date = parseDate(t.getAttribute("datetime"));
      if (date) { t.textContent = formatDate(date); t.title = date.toISOString(); }
    }
  }

  function refreshMain() {
    if (window.djpRefreshMain) window.djpRefreshMain();
    else location.reload();
  }

  // --- download buttons and per-track cells ---------------------------------------------------------

  function describeBatch(data) {
    const parts = [`${data.queued} download${data.queued === 1 ? "" : "s"} queued`];
    if (data.already_queued) parts.push(`${data.already_queued} already queued`);
    if (data.skipped) parts.push(`${data.skipped} left for a later request`);
    if (!data.queued && !data.already_queued && !data.skipped) return "Nothing to download: every track has audio.";
    return parts.join(", ") + ".";
  }

  async function startDownload(button) {
    const box = button.closest("[data-download-box]") || button.parentElement;
    const result = box.querySelector("[data-download-result]");
    const show = (text, isError) => {
      if (!result) return;
      result.textContent = text;
      result.classList.toggle("error", !!isError);
      result.setAttribute("role", isError ? "alert" : "status");
    };
    button.disabled = true;
    show("Queuing…", false);
    connect(); // follow what gets queued
    const { ok, data, detail } = await post(button.getAttribute("data-download"));
    button.disabled = false;
    if (!ok) { show(detail, true); return; }
    if (data && Array.isArray(data.job_ids)) {
      data.job_ids.forEach((id) => mine.add(id));
      show(describeBatch(data), false);
    } else if (data && data.id) {
      mine.add(data.id);
      show("", false);
      deliver(data);
    }
    watchCells();
  }

  function relevant(job) {
    return job.kind === "download" && job.track_pk != null && (mine.has(job.id) || LIVE.includes(job.status));
  }

  function renderCell(cell, job, previous) {
    // The newest relevant job of the track wins (a retry or a new download replaces an old one).
    const shown = cell.getAttribute("data-job-id");
    if (shown && shown !== job.id) {
      const shownJob = latest.get(shown);
      const older = shownJob && (parseDate(job.enqueued_at) || 0) < (parseDate(shownJob.enqueued_at) || 0);
      if (older) return;
    }
    cell.setAttribute("data-job-id", job.id);
    const done = job.status === "finished";
    const failed = ["failed", "stopped", "canceled"].includes(job.status);
    const label = done ? "✓ downloaded" : (job.stage || job.status) + (failed ? "" : ` ${job.percent}%`);
    cell.replaceChildren(...[
      el("span", { className: `job-stage${failed ? " error" : ""}` }, label),
      done || failed ? null : progressBar(job.percent),
      failed && job.error ? el("span", { className: "error small job-error" }, job.error) : null,
    ].filter(Boolean));
    cell.classList.toggle("live", !done && !failed);
    if (!done) return;
    const wasLive = previous ? LIVE.includes(previous.status) : mine.has(job.id);
    if (cell.hasAttribute("data-refresh-on-done")) {
      if (wasLive && !refreshed.has(job.id)) {
        refreshed.add(job.id);
        setTimeout(refreshMain, 500); // show the new audio (and its analysis)
      }
      return;
    }
    const row = cell.closest("tr") || cell.parentElement;
    const pk = cell.getAttribute("data-job-track");
    if (row && !row.querySelector(`[data-play="${CSS.escape(pk)}"]`)) {
      const play = el("button", { type: "button", className: "play", "data-play": pk,
                                  "data-title": cell.getAttribute("data-title") || "",
                                  "data-artist": cell.getAttribute("data-artist") || "",
                                  title: "Play", "aria-label": `Play ${cell.getAttribute("data-title") || ""}` }, "▶");
      cell.before(play);
    }
  }

  function watchCells(root = document) {
    const added = [];
    for (const cell of root.querySelectorAll("[data-job-track]")) {
      if (cell.__djpWatched) continue;
      cell.__djpWatched = true;
      const pk = Number(cell.getAttribute("data-job-track"));
      added.push(pk);
      watch(cell, (job, previous) => {
        if (job.track_pk === pk && relevant(job)) renderCell(cell, job, previous);
      }, { lazy: true });
    }
    return added;
  }

  // Track rows show downloads in progress, but most pages have none: one look at the recent downloads
  // first, and the stream opens only if one of these tracks has a live download (or one is started).
  async function primeCells(pks) {
    if (!pks.length || source || pollTimer) return;
    let list;
    try {
      const response = await fetch("/api/jobs?kind=download&limit=100", { headers: { Accept: "application/json" } });
      if (!response.ok) return;
      list = await response.json();
    } catch { return; }
    const wanted = new Set(pks);
    let live = false;
    for (const job of list.reverse()) {
      if (!wanted.has(job.track_pk)) continue;
      deliver(job);
      live = live || LIVE.includes(job.status);
    }
    if (live) connect();
  }

  // --- the Jobs page ---------------------------------------------------------------------------------

  function actionButton(job, table) {
    const cancellable = (table.getAttribute("data-cancellable") || LIVE.join(" ")).split(" ");
    const retryable = (table.getAttribute("data-retryable") || "failed stopped canceled").split(" ");
    let action = null;
    if (cancellable.includes(job.status)) action = "cancel";
    else if (retryable.includes(job.status)) action = "retry";
    if (!action) return null;
    return el("button", { type: "button", className: "small", "data-job-action": action, "data-job-id": job.id },
              action === "cancel" ? "Cancel" : "Retry");
  }

  function timeCell(value) {
    const date = parseDate(value);
    return date ? el("time", { datetime: date.toISOString() }, formatDate(date)) : "";
  }

  function fillRow(tr, job, table) {
    const cell = (name) => tr.querySelector(`[data-col="${name}"]`);
    tr.setAttribute("data-status", job.status);
    tr.setAttribute("data-enqueued", job.enqueued_at || "");
    cell("kind").replaceChildren(job.kind_label || job.kind);
    const text = job.description || (job.track_pk != null ? `track ${job.track_pk}` : job.id);
    cell("description").replaceChildren(job.track_pk != null ? el("a", { href: `/tracks/${job.track_pk}` }, text) : text);
    cell("stage").replaceChildren(job.stage || "");
    cell("progress").replaceChildren(progressBar(job.percent), " ",
                                     el("span", { className: "small muted" }, `${job.percent}%`));
    cell("status").replaceChildren(el("span", { className: `status status-${job.status}` }, job.status));
    cell("error").replaceChildren(job.error || "");
    cell("started").replaceChildren(timeCell(job.started_at));
    cell("ended").replaceChildren(timeCell(job.ended_at));
    const actions = cell("actions");
    const errorSpan = actions.querySelector(".action-error") || el("span", { className: "action-error error small", role: "alert" });
    actions.replaceChildren(...[actionButton(job, table), " ", errorSpan].filter(Boolean));
    if (window.htmx) window.htmx.process(tr); // boost the new track link
  }

  function newRow() {
    const tr = el("tr");
    for (const name of ["kind", "description", "stage", "progress", "status", "error", "started", "ended", "actions"]) {
      const td = el("td", { "data-col": name });
      if (name === "error" || name === "started" || name === "ended") td.className = "small" + (name === "error" ? " error" : "");
      if (name === "actions") td.className = "nowrap";
      tr.append(td);
    }
    return tr;
  }

  function matches(job, table) {
    const want = (name) => table.getAttribute(`data-${name}`) || "";
    return (!want("kind") || job.kind === want("kind"))
      && (!want("status") || job.status === want("status"))
      && (!want("library-id") || String(job.library_id) === want("library-id"))
      && (!want("track-pk") || String(job.track_pk) === want("track-pk"));
  }

  function updateTable(table, job) {
    const body = table.tBodies[0];
    let tr = [...body.rows].find((row) => row.getAttribute("data-job-id") === job.id);
    if (!tr) {
      if (!matches(job, table)) return;
      tr = newRow();
      tr.setAttribute("data-job-id", job.id);
      // Newest first: before the first row enqueued earlier than this job.
      const when = parseDate(job.enqueued_at);
      const before = [...body.rows].find((row) => {
        if (!row.hasAttribute("data-job-id")) return false;
        const other = parseDate(row.getAttribute("data-enqueued"));
        return !when || !other || other < when;
      });
      body.insertBefore(tr, before || body.querySelector("tr.empty"));
      tr.classList.add("new");
    }
    fillRow(tr, job, table);
    const empty = body.querySelector("tr.empty");
    if (empty) empty.hidden = true;
  }

  function watchJobsTable(root = document) {
    for (const table of root.querySelectorAll("table[data-jobs-table]")) {
      if (table.__djpWatched) continue;
      table.__djpWatched = true;
      localizeTimes(table);
      watch(table, (job) => updateTable(table, job));
    }
  }

  async function jobAction(button) {
    const id = button.getAttribute("data-job-id");
    const action = button.getAttribute("data-job-action");
    const errorSpan = button.parentElement.querySelector(".action-error");
    if (errorSpan) errorSpan.textContent = "";
    button.disabled = true;
    const { ok, data, detail } = await post(`/api/jobs/${encodeURIComponent(id)}/${action}`);
    button.disabled = false;
    if (!ok) {
      if (errorSpan) errorSpan.textContent = detail;
      return;
    }
    if (action === "retry") mine.add(id);
    if (data && data.id) deliver(data); // the stream confirms it a moment later
  }

  // --- wiring -----------------------------------------------------------------------------------------

  document.addEventListener("click", (event) => {
    const download = event.target.closest("button[data-download]");
    if (download) { event.preventDefault(); startDownload(download); return; }
    const action = event.target.closest("button[data-job-action]");
    if (action) { event.preventDefault(); jobAction(action); }
  });

  function scan(root) {
    prune();
    const cells = watchCells(root);
    watchJobsTable(root);
    primeCells(cells);
  }

  document.addEventListener("djp:jobs-unavailable", (event) => {
    for (const notice of document.querySelectorAll("[data-jobs-notice]")) {
      notice.textContent = `Live updates paused: ${event.detail}. Retrying…`;
      notice.classList.add("error");
    }
  });
  document.addEventListener("djp:jobs-live", () => {
    for (const notice of document.querySelectorAll("[data-jobs-notice].error")) {
      notice.textContent = "Live: rows update as jobs move (stage, progress, status).";
      notice.classList.remove("error");
    }
  });
  // Pages and fragments swapped in by htmx (boosted navigation, search results, the set panel).
  document.addEventListener("htmx:afterSettle", () => scan(document));
  document.addEventListener("htmx:historyRestore", () => scan(document));
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", () => scan(document));
  else scan(document);

  window.djpJobs = { watch, post, deliver, refreshMain };
})();
