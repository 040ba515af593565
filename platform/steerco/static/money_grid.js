/* The money grid as a spreadsheet (templates/fields/_money_grid.html), in plain script:
   - row and column totals update as you type, read in the tenant's locale (the decimal
     and group signs come from the server's Babel locale as data attributes, so the sums
     read a cell exactly as the server will; a cell the server would refuse is marked);
   - a block pasted from a spreadsheet (tab- and newline-separated) fills the cells from
     the focused one to the right and down;
   - arrow keys move between cells (left/right once the caret is at the input's edge),
     Enter moves down and Shift+Enter up instead of submitting the form.
   Events are delegated from the document, so grids swapped in by htmx work as well. */
(function () {
  "use strict";

  var GRID = "[data-money-grid]";

  function escapeRegExp(text) {
    return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  }

  /* The number in a cell: 0 for an empty one, NaN for text that is no number here. */
  function readCell(text, grid) {
    var plain = text.replace(/[\s\u00a0\u202f_]/g, "");
    if (!plain) { return 0; }
    var decimal = grid.getAttribute("data-decimal") || ".";
    var group = (grid.getAttribute("data-group") || ",").replace(/[\s\u00a0\u202f]/g, "");
    var grouped = group ? "\\d{1,3}(?:" + escapeRegExp(group) + "\\d{3})+|" : "";
    var shape = new RegExp("^[-+]?(?:" + grouped + "\\d+)(?:" + escapeRegExp(decimal) + "\\d{1,2})?$");
    if (!shape.test(plain)) { return NaN; }
    if (group) { plain = plain.split(group).join(""); }
    return parseFloat(plain.replace(decimal, "."));
  }

  function formatter(grid) {
    var locale = grid.getAttribute("data-locale") || undefined;
    try {
      return new Intl.NumberFormat(locale, { maximumFractionDigits: 2 });
    } catch (error) {
      return new Intl.NumberFormat(undefined, { maximumFractionDigits: 2 });
    }
  }

  function rows(grid) {
    return Array.prototype.slice.call(grid.querySelectorAll("tbody tr"));
  }

  function cells(row) {
    return Array.prototype.slice.call(row.querySelectorAll("input"));
  }

  /* Sums every row and column; marks cells that are no number (and unmarks the rest). */
  function updateTotals(grid) {
    var format = formatter(grid);
    var columns = [];
    var grand = 0;
    rows(grid).forEach(function (row) {
      var total = 0;
      cells(row).forEach(function (input, index) {
        var amount = readCell(input.value, grid);
        var bad = isNaN(amount);
        input.classList.toggle("unreadable", bad);
        if (bad) { amount = 0; }
        total += amount;
        columns[index] = (columns[index] || 0) + amount;
      });
      grand += total;
      var output = row.querySelector("[data-row-total]");
      if (output) { output.textContent = format.format(total); }
    });
    grid.querySelectorAll("[data-column-total]").forEach(function (output, index) {
      output.textContent = format.format(columns[index] || 0);
    });
    var all = grid.querySelector("[data-grand-total]");
    if (all) { all.textContent = format.format(grand); }
  }

  function position(input) {
    var row = input.closest("tr");
    var all = rows(input.closest(GRID));
    return { row: all.indexOf(row), column: cells(row).indexOf(input), rows: all };
  }

  function cellAt(grid, rowIndex, columnIndex) {
    var row = rows(grid)[rowIndex];
    return row ? cells(row)[columnIndex] || null : null;
  }

  function moveTo(target) {
    if (target) {
      target.focus();
      target.select();
    }
  }

  function onKeydown(event) {
    var input = event.target;
    if (!input.matches || !input.matches(GRID + " input")) { return; }
    var grid = input.closest(GRID);
    var at = position(input);
    var caretAtStart = input.selectionStart === 0 && input.selectionEnd === 0;
    var caretAtEnd = input.selectionStart === input.value.length && input.selectionEnd === input.value.length;
    var target = null;
    if (event.key === "ArrowUp" || (event.key === "Enter" && event.shiftKey)) {
      target = cellAt(grid, at.row - 1, at.column);
    } else if (event.key === "ArrowDown" || event.key === "Enter") {
      target = cellAt(grid, at.row + 1, at.column);
    } else if (event.key === "ArrowLeft" && (caretAtStart || input.selectionStart === null)) {
      target = cellAt(grid, at.row, at.column - 1);
    } else if (event.key === "ArrowRight" && (caretAtEnd || input.selectionStart === null)) {
      target = cellAt(grid, at.row, at.column + 1);
    } else {
      return;
    }
    event.preventDefault();  /* Enter in the last row stays put rather than submitting */
    moveTo(target);
  }

  /* A block copied from a spreadsheet: rows by newline, cells by tab. */
  function pastedBlock(text) {
    var lines = text.replace(/\r\n?/g, "\n").split("\n");
    if (lines.length > 1 && lines[lines.length - 1] === "") { lines.pop(); }
    return lines.map(function (line) { return line.split("\t"); });
  }

  function onPaste(event) {
    var input = event.target;
    if (!input.matches || !input.matches(GRID + " input")) { return; }
    var data = event.clipboardData || window.clipboardData;
    var text = data ? data.getData("text/plain") || data.getData("text") : "";
    if (text.indexOf("\t") < 0 && text.replace(/\r?\n$/, "").indexOf("\n") < 0) {
      return;  /* one value: the browser pastes it into the caret's place */
    }
    event.preventDefault();
    var grid = input.closest(GRID);
    var at = position(input);
    pastedBlock(text).forEach(function (values, rowOffset) {
      values.forEach(function (value, columnOffset) {
        var target = cellAt(grid, at.row + rowOffset, at.column + columnOffset);
        if (target && !target.disabled && !target.readOnly) { target.value = value.trim(); }
      });
    });
    updateTotals(grid);
    /* one input event, as typing would send: the form re-checks its values (htmx) */
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function onInput(event) {
    var grid = event.target.closest && event.target.closest(GRID);
    if (grid) { updateTotals(grid); }
  }

  function updateAll() {
    document.querySelectorAll(GRID).forEach(updateTotals);
  }

  document.addEventListener("keydown", onKeydown);
  document.addEventListener("paste", onPaste);
  document.addEventListener("input", onInput);
  document.addEventListener("htmx:afterSettle", function () { updateAll(); });
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", function () { updateAll(); });
  } else {
    updateAll();
  }
})();
