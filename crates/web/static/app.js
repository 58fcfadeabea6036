// Progressive enhancement only: every step also works as a plain page.
document.addEventListener("DOMContentLoaded", function () {
  if (window.htmx) {
    // Re-rendered forms with field errors come back as 422: show them too.
    htmx.config.responseHandling = [
      { code: "204", swap: false },
      { code: "[23]..", swap: true },
      { code: "(403|404|409|422)", swap: true },
      { code: "[45]..", swap: false, error: true },
    ];
  }
  focusDialog();
});
function focusDialog() {
  var d = document.querySelector("#flyout [role=dialog]");
  // Keep keyboard focus inside an open dialog: everything behind it is inert.
  document.querySelectorAll("body > header, .sidenav, .flow > :not(#flyout)").forEach(function (el) {
    el.inert = !!d;
  });
  if (!d) return;
  closeBell();
  var target = d.querySelector("[autofocus]") || d.querySelector("h2");
  if (target) target.focus();
}
document.addEventListener("htmx:afterSettle", focusDialog);
// The bell's dropdown is a <details>, which opens and closes without script; Escape or a click
// elsewhere closes it too.
function closeBell() {
  var open = document.querySelector("details.bellmenu[open]");
  if (open) open.open = false;
  return open;
}
document.addEventListener("click", function (e) {
  var open = document.querySelector("details.bellmenu[open]");
  if (open && !open.contains(e.target)) open.open = false;
});
document.addEventListener("keydown", function (e) {
  if (e.key !== "Escape") return;
  var bell = closeBell();
  if (bell) {
    bell.querySelector("summary").focus();
    return;
  }
  var close = document.querySelector("#flyout .close");
  if (close) window.location.href = close.getAttribute("href");
});
