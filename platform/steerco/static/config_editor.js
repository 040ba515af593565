// The expert JSON editor: a problem's "line N" button puts the cursor on that line of the
// document and scrolls it into view (keyboard: Tab to the button, Enter).
document.addEventListener("click", function (event) {
  var button = event.target.closest("button.goto[data-line]");
  var area = document.getElementById("document");
  if (!button || !area) return;
  var line = parseInt(button.getAttribute("data-line"), 10);
  var lines = area.value.split("\n");
  var start = 0;
  for (var i = 0; i < line - 1 && i < lines.length; i++) start += lines[i].length + 1;
  var end = start + (lines[line - 1] || "").length;
  area.focus();
  area.setSelectionRange(start, end);
  var lineHeight = area.scrollHeight / Math.max(lines.length, 1);
  area.scrollTop = Math.max(0, (line - 5) * lineHeight);
});
