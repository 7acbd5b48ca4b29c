// The workbench's only script, served from /static so the pages' CSP (P6) can allow it by origin
// (script-src 'self') while still refusing every inline script. Each part looks for its form and does
// nothing on a page without it; the pages work without scripts too (the owner's name can be typed, all
// period pickers are shown, each named).
"use strict";

// New case (P7): the owner the property register names fills the name; the phone stays in the register
// (P3: shown masked, as a hint).
(function () {
  var unit = document.querySelector("form.intake:not(.unit-picker) select[name=unit_id]");
  if (!unit) return;
  unit.addEventListener("change", function () {
    var form = unit.form, o = unit.selectedOptions[0],
        name = form.querySelector("input[name=name]"), phone = form.querySelector("input[name=phone]");
    if (!name.value || name.dataset.filled) { name.value = o.dataset.owner || ""; name.dataset.filled = "1"; }
    phone.placeholder = o.dataset.phone ? "留空：台账登记的电话 " + o.dataset.phone : "请填写电话";
  });
})();

// Reports (K1–K3): only the period picker of the chosen report is shown.
(function () {
  var kind = document.querySelector(".report-form select[name=kind]");
  if (!kind) return;
  function show() {
    var want = kind.selectedOptions[0].dataset.period;
    document.querySelectorAll(".report-form label.period").forEach(function (l) { l.hidden = l.dataset.period !== want; });
  }
  kind.addEventListener("change", show);
  show();
})();
