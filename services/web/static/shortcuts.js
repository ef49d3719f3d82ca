// Keyboard shortcuts and the command palette (every signed-in page, from base.html).
//   /            search tracks (focuses the search box, or opens the Tracks page)
//   g t, g p, g l  go to Tracks, Playlists, Libraries (g d: dashboard, g j: jobs)
//   Ctrl/Cmd-K   command palette: jump to any page, playlist, library or track
//   ?            this list;  Escape closes a dialog or leaves the search box
//   space, [ ]   play/pause, previous, next (static/player.js)
(() => {
  "use strict";
  const GO = { t: "/tracks", p: "/playlists", l: "/libraries", d: "/", j: "/jobs" };
  const palette = document.getElementById("palette");
  const help = document.getElementById("shortcuts-help");
  let pendingG = 0;

  const typing = () => {
    const el = document.activeElement;
    return el && (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) || el.isContentEditable);
  };

  function go(url) {
    // A boosted link keeps the player playing; a plain page load otherwise.
    const link = document.createElement("a");
    link.href = url;
    document.getElementById("main")?.appendChild(link);
    if (window.htmx && document.body.hasAttribute("hx-boost")) {
      window.htmx.process(link);
      link.click();
      link.remove();
    } else {
      location.assign(url);
    }
  }

  // --- command palette ---------------------------------------------------------------------------------
  const input = palette?.querySelector("input");
  const list = palette?.querySelector("[role=listbox]");

  function options() { return list ? [...list.querySelectorAll("li[role=option]")] : []; }
  function selected() { return options().find((li) => li.getAttribute("aria-selected") === "true"); }
  function select(li) {
    options().forEach((o) => o.removeAttribute("aria-selected"));
    if (!li) return;
    li.setAttribute("aria-selected", "true");
    input.setAttribute("aria-activedescendant", li.id);
    li.scrollIntoView({ block: "nearest" });
  }
  function openPalette() {
    if (!palette || palette.open) return;
    help?.open && help.close();
    palette.showModal();
    input.value = "";
    input.dispatchEvent(new Event("input", { bubbles: true })); // htmx loads the pages list
    input.focus();
  }
  if (palette) {
    input.addEventListener("keydown", (event) => {
      const all = options();
      const index = all.indexOf(selected());
      if (event.key === "ArrowDown" || event.key === "ArrowUp") {
        event.preventDefault();
        const step = event.key === "ArrowDown" ? 1 : -1;
        select(all[(index + step + all.length) % all.length]);
      } else if (event.key === "Enter") {
        event.preventDefault();
        const link = (selected() || all[0])?.querySelector("a");
        if (link) { palette.close(); go(link.getAttribute("href")); }
      }
    });
    list.addEventListener("click", (event) => {
      const link = event.target.closest("a");
      if (!link) return;
      event.preventDefault();
      palette.close();
      go(link.getAttribute("href"));
    });
    palette.addEventListener("click", (event) => { if (event.target === palette) palette.close(); });
  }

  // --- keys ----------------------------------------------------------------------------------------------
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      event.preventDefault();
      palette?.open ? palette.close() : openPalette();
      return;
    }
    const box = document.getElementById("q");
    if (event.key === "Escape" && box && document.activeElement === box) { box.blur(); return; }
    if (typing() || event.ctrlKey || event.metaKey || event.altKey) return;
    if (palette?.open || help?.open) return; // the dialog handles its own keys (Escape closes it)

    if (pendingG && Date.now() - pendingG < 1500 && GO[event.key]) {
      event.preventDefault();
      pendingG = 0;
      go(GO[event.key]);
      return;
    }
    pendingG = event.key === "g" ? Date.now() : 0;
    if (event.key === "/") {
      event.preventDefault();
      if (box) { box.focus(); box.select(); } else { go("/tracks"); }
    } else if (event.key === "?") {
      event.preventDefault();
      help?.showModal();
    }
  });
  // After "/" opened the Tracks page (boosted or a plain load), focus its search box.
  function focusSearchIfAsked() {
    if (location.pathname === "/tracks" && sessionStorage.getItem("djp-focus-search")) {
      sessionStorage.removeItem("djp-focus-search");
      document.getElementById("q")?.focus();
    }
  }
  document.addEventListener("htmx:afterSettle", focusSearchIfAsked);
  focusSearchIfAsked();
  document.addEventListener("keydown", (event) => {
    if (event.key === "/" && !typing() && !document.getElementById("q")) sessionStorage.setItem("djp-focus-search", "1");
  }, true);
  document.querySelectorAll("[data-open-palette]").forEach((b) => b.addEventListener("click", openPalette));
  document.querySelectorAll("[data-open-shortcuts]").forEach((b) => b.addEventListener("click", () => help?.showModal()));

  // --- theme: auto (system), light or dark, remembered on this device ----------------------------------
  const themeButton = document.querySelector("[data-theme-toggle]");
  const ORDER = ["auto", "light", "dark"];
  function applyTheme(theme) {
    if (theme === "auto") document.documentElement.removeAttribute("data-theme");
    else document.documentElement.setAttribute("data-theme", theme);
    if (themeButton) themeButton.textContent = `Theme: ${theme}`;
  }
  applyTheme(localStorage.getItem("djp-theme") || "auto");
  themeButton?.addEventListener("click", () => {
    const now = localStorage.getItem("djp-theme") || "auto";
    const next = ORDER[(ORDER.indexOf(now) + 1) % ORDER.length];
    localStorage.setItem("djp-theme", next);
    applyTheme(next);
  });
})();
