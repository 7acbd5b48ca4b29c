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

// Paid-service quote (R3): rows of items; blank rows past the first are hidden until 添加一行, 删除 clears a
// row, and each row's amount and the total are kept as ¥1,234.50 (the server prices the quote again).
(function () {
  var form = document.getElementById("form-quote");
  if (!form) return;
  function fen(text) {
    var t = String(text || "").replace(/[,，¥￥\s]/g, "");
    return /^\d+(\.\d{1,2})?$/.test(t) ? Math.round(parseFloat(t) * 100) : null;
  }
  function yuan(f) {
    var s = (f / 100).toFixed(2).split(".");
    return "¥" + s[0].replace(/\B(?=(\d{3})+(?!\d))/g, ",") + "." + s[1];
  }
  function amount(row) {
    var code = row.querySelector("select"), price, quantity;
    if (code) {
      var o = code.selectedOptions[0];
      price = o && o.dataset.price ? fen(o.dataset.price) : null;
      quantity = fen(row.querySelector("input[name^=item_quantity]").value);
    } else {
      price = fen(row.querySelector("input[name^=extra_unit_price]").value);
      quantity = fen(row.querySelector("input[name^=extra_quantity]").value);
    }
    return price === null || quantity === null || !quantity ? null : Math.round(price * quantity / 100);
  }
  function blank(row) {
    return Array.prototype.every.call(row.querySelectorAll("input, select"), function (e) { return !e.value; });
  }
  function update() {
    var total = 0;
    form.querySelectorAll(".quote-row").forEach(function (row) {
      var a = amount(row);
      row.querySelector(".quote-amount").textContent = a === null ? "—" : yuan(a);
      if (a !== null && !row.hidden) total += a;
    });
    form.querySelector(".quote-total").textContent = yuan(total);
  }
  form.querySelectorAll(".quote-rows").forEach(function (set) {
    var rows = set.querySelectorAll(".quote-row"), shown = false;
    rows.forEach(function (row, i) {
      // the rows with something in them, and the first blank one, stay shown
      if (blank(row) && shown) row.hidden = true;
      if (blank(row)) shown = true;
      var remove = row.querySelector(".quote-remove");
      remove.hidden = false;
      remove.addEventListener("click", function () {
        row.querySelectorAll("input, select").forEach(function (e) { e.value = ""; });
        if (set.querySelectorAll(".quote-row:not([hidden])").length > 1) row.hidden = true;
        update();
      });
    });
    var add = set.querySelector(".quote-add");
    add.hidden = false;
    add.addEventListener("click", function () {
      var next = set.querySelector(".quote-row[hidden]");
      if (next) { next.hidden = false; (next.querySelector("select, input") || next).focus(); }
      add.disabled = !set.querySelector(".quote-row[hidden]");
    });
  });
  form.addEventListener("input", update);
  form.addEventListener("change", update);
  update();
})();
