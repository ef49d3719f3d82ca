// The link-review wizard's keys (/enrichment/review, loaded by its page):
//   a accept the best · 1–5 choose that candidate · r reject all · s skip
// Each key clicks the wizard's button marked data-key="<key>"; htmx does the rest.
(() => {
  "use strict";
  if (window.djpEnrichmentKeys) return; // boosted navigations may load this script again
  window.djpEnrichmentKeys = true;

  const typing = () => {
    const el = document.activeElement;
    return el && (["INPUT", "TEXTAREA", "SELECT"].includes(el.tagName) || el.isContentEditable);
  };

  document.addEventListener("keydown", (event) => {
    const wizard = document.querySelector("[data-enrich-wizard]");
    if (!wizard || event.ctrlKey || event.metaKey || event.altKey || event.repeat || typing()) return;
    if (document.querySelector("dialog[open]")) return;
    // Just swapped in and not yet wired by htmx: a click now would submit the form natively.
    if (wizard.matches(".htmx-added, .htmx-settling, .htmx-swapping")) return;
    const key = event.key.toLowerCase();
    if (!/^[ars1-5]$/.test(key)) return;
    const button = wizard.querySelector(`[data-key="${key}"]`);
    if (!button || button.disabled) return;
    event.preventDefault();
    button.click();
  });
})();
