// Keyboard shortcuts (on every page, from base.html):
//   /        focus the search box (Tracks page); Escape leaves it
//   space    play / pause, [ previous track, ] next track (static/player.js; not while typing in a field)
// "/" focuses the search box, as in most music libraries; Escape leaves it.
document.addEventListener("keydown", (event) => {
  const box = document.getElementById("q");
  if (!box) return;
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement?.tagName);
  if (event.key === "/" && !typing) {
    event.preventDefault();
    box.focus();
    box.select();
  } else if (event.key === "Escape" && document.activeElement === box) {
    box.blur();
  }
});
