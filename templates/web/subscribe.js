// The subscribe form's timezone: when the reader has not chosen one, the browser's own
// zone is put first in the list, under "Your timezone", and chosen. The form works without
// this script (UTC by default).
document.addEventListener("DOMContentLoaded", function () {
  var select = document.getElementById("timezone");
  if (!select || select.getAttribute("data-guess") !== "yes") return;
  var zone;
  try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone; } catch (e) { return; }
  for (var i = 0; i < select.options.length; i++) {
    var option = select.options[i];
    var aliases = (option.getAttribute("data-aliases") || "").split(" ");
    if (option.value !== zone && aliases.indexOf(zone) < 0) continue;  // ICU: Asia/Calcutta
    var group = document.createElement("optgroup");
    group.label = "Your timezone";
    var guess = option.cloneNode(true);
    guess.textContent = option.value.replace(/_/g, " ");
    group.appendChild(guess);
    select.insertBefore(group, select.firstChild);
    guess.selected = true;
    return;
  }
});
