// Loaded in <head> without defer so the chosen theme applies before the first paint (no flash).
(() => {
  const theme = localStorage.getItem("djp-theme");
  if (theme === "light" || theme === "dark") document.documentElement.setAttribute("data-theme", theme);
})();
