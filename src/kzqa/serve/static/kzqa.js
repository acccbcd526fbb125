// Keyboard: "/" focuses the question box (unless already typing somewhere).
document.addEventListener("keydown", (event) => {
  const box = document.getElementById("q");
  const typing = ["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName);
  if (event.key === "/" && box && !typing) {
    event.preventDefault();
    box.focus();
    box.select();
  }
});
// The document view: bring the cited passage into view (the #hit anchor does it too, but
// centred reads better than flush with the top).
document.addEventListener("DOMContentLoaded", () => {
  const hit = document.getElementById("hit");
  if (hit) hit.scrollIntoView({ block: "center" });
});
