(() => {
  "use strict";
  const figures = JSON.parse(document.getElementById("figures").textContent);
  const config = { displaylogo: false, responsive: true, typesetMath: false };
  const drawn = new Set();

  function draw(section) {
    section.querySelectorAll(".plot").forEach((element) => {
      if (drawn.has(element.id)) {
        Plotly.Plots.resize(element);
        return;
      }
      const figure = figures.figures[element.id];
      figure.layout.template = figures.template;
      Plotly.newPlot(element, figure.data, figure.layout, config);
      drawn.add(element.id);
    });
  }

  function show(key) {
    document.querySelectorAll("section.scope").forEach((section) => {
      section.hidden = section.dataset.scope !== key;
      if (!section.hidden) draw(section);
    });
  }

  const select = document.getElementById("scope");
  if (select) {
    const wanted = decodeURIComponent(location.hash.slice(1));
    if ([...select.options].some((option) => option.value === wanted)) select.value = wanted;
    select.addEventListener("change", () => {
      history.replaceState(null, "", "#" + select.value);
      show(select.value);
    });
  }
  show(select ? select.value : "all");

  const value = (cell) => (cell.dataset.v !== undefined ? cell.dataset.v : cell.textContent);

  function sortBy(table, index) {
    const header = table.tHead.rows[0].cells[index];
    const numeric = header.classList.contains("n");
    const current = header.getAttribute("aria-sort");
    const descending = current ? current === "ascending" : numeric;
    const direction = descending ? -1 : 1;
    const rows = [...table.tBodies[0].rows];
    rows.sort((a, b) => {
      const x = value(a.cells[index]);
      const y = value(b.cells[index]);
      if (numeric) {
        const p = x === "" ? -Infinity : Number(x);
        const q = y === "" ? -Infinity : Number(y);
        return p === q ? 0 : (p < q ? -1 : 1) * direction;
      }
      return x.localeCompare(y) * direction;
    });
    table.tBodies[0].append(...rows);
    [...table.tHead.rows[0].cells].forEach((cell) => cell.removeAttribute("aria-sort"));
    header.setAttribute("aria-sort", descending ? "descending" : "ascending");
  }

  document.querySelectorAll("table.data").forEach((table) => {
    [...table.tHead.rows[0].cells].forEach((header, index) => {
      header.addEventListener("click", () => sortBy(table, index));
      header.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          sortBy(table, index);
        }
      });
    });
  });

  // A cell a spreadsheet would read as a formula (= + - @, tab, carriage return) starts with a
  // quote instead; plain numbers stay numbers.
  function csvCell(text) {
    let out = text;
    if (/^[=+\-@\t\r]/.test(out) && !/^-?\d+(\.\d+)?(e[+-]?\d+)?$/.test(out)) out = "'" + out;
    return /[",\r\n]/.test(out) ? '"' + out.replace(/"/g, '""') + '"' : out;
  }

  function csv(table) {
    const lines = [...table.rows].map((row) => [...row.cells].map((c) => csvCell(value(c))));
    return lines.map((cells) => cells.join(",")).join("\r\n") + "\r\n";
  }
  window.timetrackCsv = csv;

  document.querySelectorAll("button.csv").forEach((button) => {
    button.addEventListener("click", () => {
      const table = document.getElementById(button.dataset.table);
      const blob = new Blob(["\ufeff" + csv(table)], { type: "text/csv;charset=utf-8" });
      const link = document.createElement("a");
      link.href = URL.createObjectURL(blob);
      link.download = button.dataset.file;
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(link.href), 1000);
    });
  });
})();
