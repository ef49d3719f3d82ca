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
