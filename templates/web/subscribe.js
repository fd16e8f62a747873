// Prefills the subscribe form's timezone from the browser when the reader has not chosen
// one. The form works without it (UTC by default).
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("timezone");
  if (!select || select.getAttribute("data-guess") !== "yes") return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  for (var i = 0; i < select.options.length; i++) {
    if (select.options[i].value === zone) { select.selectedIndex = i; return; }
  }
});
