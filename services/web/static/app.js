// One global handler for htmx errors (every page, from base.html).
// htmx does not swap 4xx/5xx answers, so without this a refused form shows nothing. The message
// (JSON `detail`, or the text of an HTML answer) goes into the requesting form's `[data-errors]`
// slot, or one created after the requesting element; the next request from there clears it.
(() => {
  "use strict";

  function messageOf(xhr) {
    if (!xhr) return "Could not reach the server. Check your connection and try again.";
    const type = xhr.getResponseHeader("content-type") || "";
    const body = xhr.responseText || "";
    let text = "";
    if (type.includes("json")) {
      try {
        const data = JSON.parse(body);
        text = typeof data.detail === "string" ? data.detail
          : Array.isArray(data.detail) ? data.detail.map((d) => d.msg || String(d)).join("; ") : "";
      } catch (_) { /* fall through to the status line */ }
    } else if (body) {
      const doc = new DOMParser().parseFromString(body, "text/html");
      const main = doc.querySelector("[data-error-message]") || doc.body;
      text = (main?.textContent || "").replace(/\s+/g, " ").trim();
    }
    if (!text) text = `${xhr.status} ${xhr.statusText || "error"}`;
    if (xhr.status >= 500) {
      const rid = xhr.getResponseHeader("x-request-id");
      if (rid && !text.includes(rid)) text += ` (request id ${rid})`;
    }
    return text.length > 600 ? `${text.slice(0, 600)}…` : text;
  }

  function slotFor(elt, create) {
    if (!elt || !elt.isConnected) return null;
    const form = elt.closest("form");
    let slot = (form && form.querySelector("[data-errors]")) || null;
    for (let node = elt; !slot && node && node !== document.body; node = node.parentElement) {
      slot = node.querySelector(":scope > [data-errors]");
    }
    if (slot || !create) return slot;
    slot = document.createElement("p");
    slot.className = "error";
    slot.setAttribute("role", "alert");
    slot.dataset.errors = "";
    (form || elt).insertAdjacentElement("afterend", slot);
    return slot;
  }

  function show(elt, text) {
    const slot = slotFor(elt, true);
    if (slot) {
      slot.textContent = text;
      slot.hidden = false;
    } else {
      toast(text);
    }
  }

  function toast(text) {
    let box = document.getElementById("toast");
    if (!box) {
      box = document.createElement("div");
      box.id = "toast";
      box.className = "toast error";
      box.setAttribute("role", "alert");
      document.body.appendChild(box);
    }
    box.textContent = text;
    box.hidden = false;
    clearTimeout(box._timer);
    box._timer = setTimeout(() => { box.hidden = true; }, 8000);
  }

  document.addEventListener("htmx:beforeRequest", (event) => {
    const slot = slotFor(event.detail.elt, false);
    if (slot) { slot.textContent = ""; }
  });
  // Errors are handled before the swap: a boosted link to a missing or forbidden page shows the HTML
  // error page in <main>; any other refused request shows its message by the form. Cancelling here
  // also keeps htmx from logging the answer as a console error (the user has been told).
  document.addEventListener("htmx:beforeSwap", (event) => {
    const xhr = event.detail.xhr;
    if (xhr.status < 400) return;
    const html = (xhr.getResponseHeader("content-type") || "").includes("text/html");
    if (event.detail.boosted && html) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
      return;
    }
    event.preventDefault();
    show(event.detail.requestConfig?.elt || event.detail.elt, messageOf(xhr));
  });
  // Any error answer that reached htmx's own error event anyway (another handler let it through).
  document.addEventListener("htmx:responseError", (event) => {
    show(event.detail.elt, messageOf(event.detail.xhr));
  });
  document.addEventListener("htmx:sendError", (event) => {
    show(event.detail.elt, messageOf(null));
  });
  document.addEventListener("htmx:timeout", (event) => {
    show(event.detail.elt, "The server took too long to answer. Try again.");
  });

  // Menus (<details class="menu">) close like menus: after choosing a link in them, on a click
  // elsewhere, and on Escape. Forms inside a menu (rename) stay open while being filled in.
  document.addEventListener("click", (event) => {
    const chosen = event.target.closest("details.menu .menu-items a");
    document.querySelectorAll("details.menu[open]").forEach((menu) => {
      if (!menu.contains(event.target) || (chosen && menu.contains(chosen))) menu.open = false;
    });
  });
  document.addEventListener("keydown", (event) => {
    if (event.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach((menu) => { menu.open = false; });
  });

  // Forms marked `data-refresh-on-success` (the audio upload) refresh the page after a successful
  // request: the Content-Security-Policy allows no inline handlers (hx-on), so the behaviour lives here.
  // An upload that queued an analysis refreshes with ?analysis_job=ID: the page then shows its progress.
  document.addEventListener("htmx:afterRequest", (event) => {
    const elt = event.detail.elt;
    if (!event.detail.successful || !elt || !elt.closest || !elt.closest("[data-refresh-on-success]")) return;
    const url = new URL(location.href);
    url.searchParams.delete("analysis_job");
    try {
      const job = JSON.parse(event.detail.xhr.responseText).analysis;
      if (job && job.job_id) url.searchParams.set("analysis_job", job.job_id);
    } catch { /* not JSON: refresh as it is */ }
    const path = url.pathname + url.search;
    if (window.djpRefreshMain) window.djpRefreshMain(path); else window.location.assign(path);
  });

  // For scripts that call fetch() themselves (player, jobs, playlists): same message rules.
  window.djpShowError = (elt, text) => show(elt, text);
  window.djpErrorOf = async (response) => {
    const text = await response.text();
    const fake = {
      status: response.status, statusText: response.statusText, responseText: text,
      getResponseHeader: (name) => response.headers.get(name),
    };
    return messageOf(fake);
  };
})();
