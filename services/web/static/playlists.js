// Playlists in the browser (every page, from base.html):
// - "Add to playlist" bars ([data-add-to-playlist], templates/_add_to_playlist.html) working on any track
//   list with [data-track-select] checkboxes (the tracks page, album pages, the track page's Similar panel,
//   the playlist page's Suggest next tracks): counts the selection, sends it (track_pk, one per track),
//   clears it when added;
// - the playlist page's drag-to-reorder list ([data-sortable], SortableJS loaded on demand): a drop fires
//   "reordered" on the list, whose hx-put sends the rows' track_pk inputs in their new order;
// - the import form on /playlists ([data-import-playlist]): shows what matched and what did not.
// Errors of htmx requests are shown by the global handler in app.js.
(() => {
  "use strict";
  if (window.djpPlaylists) return;
  window.djpPlaylists = true;

  // --- add to playlist ---------------------------------------------------------------------------

  function scopeOf(bar) {
    const target = bar.dataset.for;
    if (target) return document.querySelector(target) || document;
    return bar.closest("[data-track-scope]") || document;
  }

  function boxes(bar) {
    return Array.from(scopeOf(bar).querySelectorAll("input[data-track-select]"));
  }

  function barsFor(element) {
    return Array.from(document.querySelectorAll("[data-add-to-playlist]"))
      .filter((bar) => scopeOf(bar).contains(element));
  }

  function trackPkOf(row) {
    if (row.dataset.trackPk) return row.dataset.trackPk;
    const link = row.querySelector('a[href^="/tracks/"]');
    const match = link && /^\/tracks\/(\d+)/.exec(link.getAttribute("href"));
    return match ? match[1] : null;
  }

  // A bar given a table without checkboxes (data-for): a checkbox in each track row, select-all on top.
  function addCheckboxes(bar) {
    const table = bar.dataset.for && document.querySelector(bar.dataset.for);
    if (!table || table.tagName !== "TABLE" || table.querySelector("[data-track-select]")) return;
    const headRow = table.tHead && table.tHead.rows[0];
    if (headRow) {
      const th = document.createElement("th");
      th.className = "select";
      th.innerHTML = '<input type="checkbox" class="track-select" data-track-select-all aria-label="Select all tracks">';
      headRow.insertBefore(th, headRow.firstElementChild);
    }
    for (const body of table.tBodies) {
      for (const row of body.rows) {
        const td = document.createElement("td");
        td.className = "select";
        const pk = trackPkOf(row);
        if (pk) {
          const box = document.createElement("input");
          box.type = "checkbox";
          box.className = "track-select";
          box.name = "track_pk";
          box.value = pk;
          box.dataset.trackSelect = "";
          const title = row.querySelector('a[href^="/tracks/"]');
          box.setAttribute("aria-label", `Select “${title ? title.textContent.trim() : "track " + pk}”`);
          td.appendChild(box);
        }
        row.insertBefore(td, row.firstElementChild);
      }
    }
  }

  function update(bar) {
    const all = boxes(bar);
    const chosen = all.filter((box) => box.checked).length;
    const count = bar.querySelector("[data-selected-count]");
    if (count) count.textContent = String(chosen);
    const plural = bar.querySelector("[data-plural]");
    if (plural) plural.textContent = chosen === 1 ? "" : "s";
    const button = bar.querySelector("[data-add-button]");
    if (button) button.disabled = chosen === 0;
    for (const toggle of scopeOf(bar).querySelectorAll("[data-track-select-all]")) {
      toggle.checked = all.length > 0 && chosen === all.length;
      toggle.indeterminate = chosen > 0 && chosen < all.length;
    }
  }

  function setupBars(root) {
    const bars = root.matches && root.matches("[data-add-to-playlist]")
      ? [root] : Array.from((root.querySelectorAll ? root : document).querySelectorAll("[data-add-to-playlist]"));
    for (const bar of bars) {
      addCheckboxes(bar);
      update(bar);
    }
  }

  document.addEventListener("change", (event) => {
    const target = event.target;
    if (!(target instanceof HTMLInputElement)) return;
    if (target.matches("[data-track-select-all]")) {
      for (const bar of barsFor(target)) {
        for (const box of boxes(bar)) box.checked = target.checked;
        update(bar);
      }
    } else if (target.matches("[data-track-select]")) {
      for (const bar of barsFor(target)) update(bar);
    }
  });

  // The selection goes with the bar's request (the checkboxes are outside the bar's form).
  document.addEventListener("htmx:configRequest", (event) => {
    const bar = event.detail.elt;
    if (!(bar instanceof HTMLFormElement) || !bar.matches("[data-add-to-playlist]")) return;
    const params = event.detail.parameters;
    params.delete("track_pk");
    for (const box of boxes(bar)) if (box.checked) params.append("track_pk", box.value);
  });

  // Added: clear the selection (the bar itself is replaced by the answer, with its message).
  document.addEventListener("htmx:beforeSwap", (event) => {
    // The requesting bar: the swap's target is the bar itself, or only its message slot (Suggest next tracks).
    const bar = (event.detail.requestConfig && event.detail.requestConfig.elt) || event.detail.elt;
    if (!(bar instanceof HTMLFormElement) || !bar.matches("[data-add-to-playlist]")) return;
    if (event.detail.xhr.status >= 200 && event.detail.xhr.status < 300) {
      for (const box of boxes(bar)) box.checked = false;
      for (const toggle of scopeOf(bar).querySelectorAll("[data-track-select-all]")) toggle.checked = false;
      update(bar);  // a bar that swaps only its message in (Suggest next tracks) stays: reset its count
    }
  });

  // --- drag to reorder ---------------------------------------------------------------------------

  let sortableLoading = null;
  function loadSortable() {
    if (window.Sortable) return Promise.resolve(window.Sortable);
    if (!sortableLoading) {
      sortableLoading = new Promise((resolve, reject) => {
        const script = document.createElement("script");
        script.src = "/static/vendor/Sortable.min.js";
        script.onload = () => resolve(window.Sortable);
        script.onerror = () => { sortableLoading = null; reject(new Error("could not load Sortable")); };
        document.head.appendChild(script);
      });
    }
    return sortableLoading;
  }

  function renumber(list) {
    list.querySelectorAll(":scope > li .item-pos").forEach((cell, i) => { cell.textContent = String(i + 1); });
  }

  function setupSortables(root) {
    const lists = Array.from((root.querySelectorAll ? root : document).querySelectorAll("[data-sortable]"));
    if (root.matches && root.matches("[data-sortable]")) lists.push(root);
    for (const list of lists) {
      if (list.dataset.sortableReady) continue;
      list.dataset.sortableReady = "loading";
      loadSortable().then((Sortable) => {
        if (!list.isConnected) return;
        const sortable = Sortable.create(list, {
          handle: ".drag-handle",
          draggable: "li",
          animation: 150,
          ghostClass: "drag-ghost",
          chosenClass: "drag-chosen",
          onEnd: (evt) => {
            if (evt.oldIndex === evt.newIndex) return;
            renumber(list);
            list.classList.add("saving");
            sortable.option("disabled", true);  // until the answer replaces the list
            htmx.trigger(list, "reordered");
          },
        });
        list.dataset.sortableReady = "true";
      }).catch(() => { list.dataset.sortableReady = ""; });
    }
  }

  // A refused order (e.g. a stale page): put the list back as the server has it.
  document.addEventListener("htmx:afterRequest", (event) => {
    const list = event.detail.elt;
    if (!(list instanceof HTMLElement) || !list.matches("[data-sortable]") || event.detail.successful) return;
    list.classList.remove("saving");
    const edit = document.getElementById("playlist-edit");
    if (edit && list.isConnected) {
      htmx.ajax("GET", window.location.pathname, {
        target: "#playlist-edit", select: "#playlist-edit", swap: "outerHTML", selectOOB: "#playlist-summary",
      }).then(() => {
        const slot = document.querySelector("#playlist-editor [data-errors]");
        if (slot) slot.textContent = messageOf(event.detail.xhr);
      });
    }
  });

  function messageOf(xhr) {
    if (xhr.status === 409) return "The playlist had changed since this page was loaded: this is its order now. Try again.";
    try { return JSON.parse(xhr.responseText).detail || `${xhr.status} ${xhr.statusText}`; } catch (_) {
      return `${xhr.status} ${xhr.statusText}`;
    }
  }

  // The set builder's form re-renders only the set panel: reload the editable list and versions so
  // they (and the revision the edits send) show the new order.
  document.addEventListener("htmx:afterSwap", (event) => {
    const target = event.detail.target;
    if (!target || target.id !== "set-panel") return;
    const edit = document.getElementById("playlist-edit");
    const elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if (!edit || (elt && edit.contains(elt))) return;  // our own edits already brought it
    htmx.ajax("GET", window.location.pathname, {
      target: "#playlist-edit", select: "#playlist-edit", swap: "outerHTML", selectOOB: "#playlist-summary",
    });
  });

  // --- import ------------------------------------------------------------------------------------

  function text(tag, content, className) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    node.textContent = content;
    return node;
  }

  document.addEventListener("htmx:afterRequest", (event) => {
    const form = event.detail.elt;
    if (!(form instanceof HTMLFormElement) || !form.matches("[data-import-playlist]")) return;
    const box = form.querySelector("[data-import-result]");
    if (!box || !event.detail.successful) return;
    let report;
    try { report = JSON.parse(event.detail.xhr.responseText); } catch (_) { return; }
    const line = document.createElement("p");
    line.append(`Imported “${report.name}”: ${report.matched} of ${report.total} track${report.total === 1 ? "" : "s"} matched. `);
    const link = document.createElement("a");
    link.href = `/playlists/${report.playlist_id}`;
    link.textContent = "Open it";
    line.append(link);
    box.replaceChildren(line);
    const missing = report.unmatched || [];
    if (missing.length) {
      box.append(text("p", `${missing.length} not matched:`, "muted"));
      const list = document.createElement("ul");
      list.className = "small";
      for (const entry of missing.slice(0, 200)) {
        const who = [entry.artist, entry.title].filter(Boolean).join(" – ") || entry.path || `entry ${entry.entry}`;
        list.append(text("li", `#${entry.entry} ${who}: ${entry.reason}`));
      }
      box.append(list);
    }
    form.reset();
    if (document.getElementById("playlist-list")) {  // show the new playlist in the list above
      htmx.ajax("GET", "/playlists", { target: "#playlist-list", select: "#playlist-list", swap: "outerHTML" });
    }
  });

  // --- wiring --------------------------------------------------------------------------------------

  function setup(root) {
    setupBars(root);
    setupSortables(root);
  }
  if (window.htmx) {
    htmx.onLoad(setup);  // the page, then every piece htmx swaps in
  } else {
    document.addEventListener("DOMContentLoaded", () => setup(document));
  }
})();
