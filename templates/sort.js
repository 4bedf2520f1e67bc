// Sortable overview tables. The page reads fine without this script: rows arrive sorted
// (failing and boundary hospitals first). Allowed by the page's CSP through its SHA-256 hash,
// so it must stay byte-for-byte what `Renderer` hashes; it reads only the table's own text.
(function () {
  "use strict";
  function key(cell, kind) {
    if (cell.hasAttribute("data-rank")) {
      return Number(cell.getAttribute("data-rank"));
    }
    var text = cell.textContent.trim();
    if (kind !== "num") {
      return text;
    }
    var m = text.replace(/,/g, "").replace("±", "").match(/[-+]?[0-9]+(\.[0-9]+)?/);
    return m ? parseFloat(m[0]) : null;
  }
  function sortBy(table, th, col, kind) {
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (h) {
      h.removeAttribute("aria-sort");
    });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = table.tBodies[0];
    var rows = Array.prototype.slice.call(body.rows);
    rows.sort(function (a, b) {
      var x = key(a.cells[col], kind);
      var y = key(b.cells[col], kind);
      if (x === null || y === null) {
        return (x === null) - (y === null);
      }
      var c = kind === "num" ? x - y : String(x).localeCompare(String(y), "ja");
      return ascending ? c : -c;
    });
    rows.forEach(function (r) {
      body.appendChild(r);
    });
  }
  Array.prototype.forEach.call(document.querySelectorAll("table.sortable"), function (table) {
    Array.prototype.forEach.call(table.tHead.rows[0].cells, function (th, col) {
      var kind = th.getAttribute("data-sort");
      if (!kind) {
        return;
      }
      var button = document.createElement("button");
      button.type = "button";
      button.className = "sort";
      button.textContent = th.textContent;
      th.textContent = "";
      th.appendChild(button);
      button.addEventListener("click", function () {
        sortBy(table, th, col, kind);
      });
    });
  });
  Array.prototype.forEach.call(document.querySelectorAll(".sort-hint"), function (p) {
    p.hidden = false;
  });
})();
