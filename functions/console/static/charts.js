/* Bar charts drawn as SVG (no library): columns by day, rows by model. Each bar has a <title> (its
   tooltip and accessible name); the pages show the same numbers as a table beside the chart. The SVG
   scales to its width, so a narrow screen gets a chart half as wide (720 -> 360 units) with fewer
   labels: its 12-unit text stays about 12 px high instead of shrinking to 5. */
"use strict";
(function () {
  const { svg, h } = window.GW.dom;
  const NARROW = window.matchMedia("(max-width: 600px)");

  /** Call draw() again when the screen turns narrow or wide, while `area` is on the page. */
  function redrawOnResize(area, draw) {
    const changed = () => (area.isConnected ? draw() : NARROW.removeEventListener("change", changed));
    NARROW.addEventListener("change", changed);
  }

  function niceMax(value) {
    if (value <= 0) return 1;
    const power = 10 ** Math.floor(Math.log10(value));
    for (const step of [1, 2, 2.5, 5, 10]) if (step * power >= value) return step * power;
    return 10 * power;
  }

  /** Vertical bars: points [{label, value, title}], format(value) for axis and tooltips. */
  function columns(title, points, format) {
    const width = NARROW.matches ? 360 : 720;
    const height = 240;
    const left = 64;
    const bottom = 28;
    const top = 12;
    const plotHeight = height - bottom - top;
    const max = niceMax(Math.max(0, ...points.map((p) => p.value)));
    const slot = (width - left - 8) / Math.max(points.length, 1);
    const barWidth = Math.max(Math.min(slot * 0.7, 40), 2);
    const labelEvery = Math.ceil(points.length / (NARROW.matches ? 5 : 10));
    const grid = [0, 0.5, 1].map((fraction) => {
      const y = top + plotHeight * (1 - fraction);
      return svg(
        "g",
        { class: "grid" },
        svg("line", { x1: left, x2: width, y1: y, y2: y }),
        svg("text", { x: left - 6, y: y + 4, "text-anchor": "end" }, format(max * fraction))
      );
    });
    const bars = points.map((point, index) => {
      const barHeight = max ? (point.value / max) * plotHeight : 0;
      const x = left + index * slot + (slot - barWidth) / 2;
      return svg(
        "g",
        { class: "bar" },
        svg("rect", { x, y: top + plotHeight - barHeight, width: barWidth, height: Math.max(barHeight, point.value ? 1 : 0), rx: 2 },
          svg("title", null, `${point.title || point.label}: ${format(point.value)}`)),
        index % labelEvery === 0
          ? svg("text", { x: x + barWidth / 2, y: height - 8, "text-anchor": "middle", class: "axis" }, point.label)
          : null
      );
    });
    return figure(title, svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" }, grid, bars));
  }

  /** Horizontal bars, one row per point (models), longest first. */
  function rows(title, points, format) {
    const sorted = [...points].sort((a, b) => b.value - a.value).slice(0, 12);
    const narrow = NARROW.matches;
    const width = narrow ? 360 : 720;
    const rowHeight = 30;
    const labelWidth = narrow ? 120 : 240;
    const height = Math.max(sorted.length, 1) * rowHeight + 8;
    const max = niceMax(Math.max(0, ...sorted.map((p) => p.value)));
    const plot = width - labelWidth - (narrow ? 100 : 110);
    const bars = sorted.map((point, index) => {
      const y = 4 + index * rowHeight;
      const barWidth = max ? (point.value / max) * plot : 0;
      return svg(
        "g",
        { class: "bar" },
        svg("text", { x: labelWidth - 8, y: y + 19, "text-anchor": "end", class: "axis" }, shorten(point.label, narrow ? 15 : 32)),
        svg("rect", { x: labelWidth, y: y + 5, width: Math.max(barWidth, point.value ? 1 : 0), height: rowHeight - 10, rx: 2 },
          svg("title", null, `${point.label}: ${format(point.value)}`)),
        svg("text", { x: labelWidth + barWidth + 6, y: y + 19, class: "value" }, format(point.value))
      );
    });
    return figure(title, svg("svg", { viewBox: `0 0 ${width} ${height}`, role: "img", "aria-label": title, class: "chart" }, bars));
  }

  function shorten(text, size) {
    return text.length > size ? `${text.slice(0, size - 1)}…` : text;
  }

  function figure(title, chart) {
    return h("figure", { class: "chart-figure" }, h("figcaption", null, title), chart);
  }

  window.GW.charts = { columns, rows, redrawOnResize };
})();
