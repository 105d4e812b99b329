// The offline dashboard's plotter: /api/dashboard as SVG, fetched again every few seconds.
// No library: the machine this runs on may be offline, and the page is small enough to draw by hand.
"use strict";

(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const RANGES = [
    ["PT1H", "1h"], ["PT3H", "3h"], ["PT6H", "6h"], ["PT12H", "12h"],
    ["P1D", "1d"], ["P3D", "3d"], ["P1W", "1w"],
  ];
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800,
    21600, 43200, 86400, 172800, 604800];
  const MARGIN = { top: 10, right: 14, bottom: 32, left: 56 };
  const params = new URLSearchParams(window.location.search);
  const refreshParam = params.get("refresh");
  const refreshSeconds = Number(refreshParam !== null ? refreshParam : document.body.dataset.refresh || 5);
  let range = params.get("range") || "";
  let lastPage = null;
  let renders = 0;
  let timer = null;

  // ------------------------------------------------------------------ small helpers
  function el(tag, attrs, text) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function svg(tag, attrs, text) {
    const node = document.createElementNS(SVG, tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined) node.setAttribute(name, String(value));
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  function pad(number) {
    return String(number).padStart(2, "0");
  }

  function formatTime(seconds, step, span) {
    const when = new Date(seconds * 1000);
    const hm = pad(when.getUTCHours()) + ":" + pad(when.getUTCMinutes());
    const clock = step < 60 ? hm + ":" + pad(when.getUTCSeconds()) : hm;
    if (span > 86400) return pad(when.getUTCMonth() + 1) + "-" + pad(when.getUTCDate()) + " " + clock;
    return clock;
  }

  function formatValue(value) {
    const size = Math.abs(value);
    const units = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];
    for (const [scale, suffix] of units) {
      if (size >= scale) return trim((value / scale).toPrecision(3)) + suffix;
    }
    if (size === 0) return "0";
    if (size >= 100) return String(Math.round(value));
    return trim(value.toPrecision(3));
  }

  function trim(text) {
    return text.includes(".") && !text.includes("e") ? text.replace(/\.?0+$/, "") : text;
  }

  function formatDuration(seconds) {
    if (seconds >= 86400 && seconds % 86400 === 0) return seconds / 86400 + " d";
    if (seconds >= 3600 && seconds % 3600 === 0) return seconds / 3600 + " h";
    if (seconds >= 60 && seconds % 60 === 0) return seconds / 60 + " min";
    return formatValue(seconds) + " s";
  }

  function niceStep(span, count) {
    const raw = span / Math.max(1, count);
    const power = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const factor of [1, 2, 2.5, 5, 10]) {
      if (raw <= factor * power) return factor * power;
    }
    return 10 * power;
  }

  // ------------------------------------------------------------------ metric widgets
  function stackedPoints(series) {
    // Each series' points lifted by the series drawn before it, at the same timestamps (missing = 0).
    const base = new Map();
    return series.map((line) => {
      const lifted = line.points.map(([at, value]) => {
        const below = base.get(at) || 0;
        return [at, below + value, below];
      });
      for (const [at, top] of lifted) base.set(at, top);
      return lifted;
    });
  }

  function yDomain(widget, drawn) {
    let low = Infinity;
    let high = -Infinity;
    for (const points of drawn) {
      for (const point of points) {
        low = Math.min(low, point[1], point.length > 2 ? point[2] : point[1]);
        high = Math.max(high, point[1]);
      }
    }
    for (const note of widget.annotations || []) {
      low = Math.min(low, note.value);
      high = Math.max(high, note.value);
    }
    if (!Number.isFinite(low)) { low = 0; high = 1; }
    if (low > 0) low = 0;
    if (high <= low) high = low + 1;
    const axis = widget.yAxis || {};
    if (typeof axis.min === "number") low = axis.min;
    if (typeof axis.max === "number") high = axis.max;
    const step = niceStep(high - low, 4);
    return { low: Math.floor(low / step) * step, high: Math.ceil(high / step) * step, step };
  }

  function yAxisLabel(widget, visible) {
    if (widget.yAxis && widget.yAxis.label) return widget.yAxis.label;
    const units = [...new Set(visible.map((line) => line.unit).filter(Boolean))];
    if (units.length === 1) return units[0];
    return widget.stat + " per " + formatDuration(widget.period);
  }

  function drawTimeSeries(widget, area, page) {
    const width = Math.max(120, area.clientWidth);
    const height = Math.max(80, area.clientHeight);
    const plotWidth = width - MARGIN.left - MARGIN.right;
    const plotHeight = height - MARGIN.top - MARGIN.bottom;
    const start = page.range.start;
    const end = page.range.end;
    const visible = widget.series.filter((line) => line.visible);
    const drawn = widget.stacked ? stackedPoints(visible) : visible.map((line) => line.points);
    const y = yDomain(widget, drawn);
    const xOf = (at) => MARGIN.left + ((at - start) / (end - start)) * plotWidth;
    const yOf = (value) => MARGIN.top + plotHeight - ((value - y.low) / (y.high - y.low)) * plotHeight;
    const root = svg("svg", {
      class: "plot", width, height, viewBox: `0 0 ${width} ${height}`,
      "data-widget": widget.index, role: "img", "aria-label": widget.title,
    });

    // Grid and y ticks.
    const yTicks = svg("g", { class: "y-ticks" });
    for (let value = y.low; value <= y.high + y.step / 2; value += y.step) {
      const at = yOf(value);
      yTicks.append(svg("line", { class: "gridline", x1: MARGIN.left, x2: width - MARGIN.right, y1: at, y2: at }));
      yTicks.append(svg("text", { x: MARGIN.left - 5, y: at + 3.5, "text-anchor": "end" }, formatValue(value)));
    }
    root.append(yTicks);

    // x ticks on the simulated clock, at whole multiples of a readable step.
    const span = end - start;
    const wanted = Math.max(2, Math.floor(plotWidth / 95));
    const step = TIME_STEPS.find((candidate) => span / candidate <= wanted) || TIME_STEPS[TIME_STEPS.length - 1];
    const xTicks = svg("g", { class: "x-ticks" });
    for (let at = Math.ceil(start / step) * step; at <= end; at += step) {
      const x = xOf(at);
      xTicks.append(svg("line", { class: "axis", x1: x, x2: x, y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight + 4 }));
      xTicks.append(svg("text", { x, y: MARGIN.top + plotHeight + 15, "text-anchor": "middle" }, formatTime(at, step, span)));
    }
    root.append(xTicks);
    root.append(svg("line", {
      class: "axis", x1: MARGIN.left, x2: width - MARGIN.right,
      y1: MARGIN.top + plotHeight, y2: MARGIN.top + plotHeight,
    }));
    root.append(svg("line", { class: "axis", x1: MARGIN.left, x2: MARGIN.left, y1: MARGIN.top, y2: MARGIN.top + plotHeight }));

    // Axis labels: the x axis says which clock it is.
    root.append(svg("text", {
      class: "axis-label x-label", x: MARGIN.left + plotWidth / 2, y: height - 3, "text-anchor": "middle",
    }, "simulated time (UTC), scale " + page.clock.scale));
    const yLabel = yAxisLabel(widget, visible);
    root.append(svg("text", {
      class: "axis-label y-label", x: 0, y: 0, "text-anchor": "middle",
      transform: `translate(11 ${MARGIN.top + plotHeight / 2}) rotate(-90)`,
    }, yLabel));

    // Horizontal annotations (thresholds).
    for (const note of widget.annotations || []) {
      const at = yOf(note.value);
      const colour = note.color || "#d13212";
      root.append(svg("line", {
        class: "annotation", x1: MARGIN.left, x2: width - MARGIN.right, y1: at, y2: at, stroke: colour,
      }));
      if (note.label) root.append(svg("text", { x: width - MARGIN.right - 2, y: at - 3, "text-anchor": "end" }, note.label));
    }

    // Lines: a path through every datapoint (gaps are bridged, as in CloudWatch) and a dot on each.
    // Stacked: each period's share as a block one period wide, so sparse counts read as counts, not levels.
    visible.forEach((line, number) => {
      const points = drawn[number];
      const group = svg("g", {
        class: "series", "data-label": line.label, "data-points": points.length, "data-stat": line.stat,
      });
      const tip = (index) => `${line.label}: ${formatValue(line.points[index][1])} at ${formatTime(points[index][0], 1, 0)} UTC`;
      if (widget.stacked) {
        const blockWidth = Math.max(2, xOf(start + line.period) - xOf(start) - 1);
        points.forEach(([at, value, below], index) => {
          const top = yOf(value);
          const block = svg("rect", {
            class: "area", x: xOf(at).toFixed(1), y: top.toFixed(1), width: blockWidth.toFixed(1),
            height: Math.max(0.5, yOf(below) - top).toFixed(1), fill: line.color,
          });
          block.append(svg("title", {}, tip(index)));
          group.append(block);
        });
      } else if (points.length > 0) {
        const path = points
          .map(([at, value], index) => `${index === 0 ? "M" : "L"}${xOf(at).toFixed(1)} ${yOf(value).toFixed(1)}`)
          .join(" ");
        group.append(svg("path", { class: "line", d: path, stroke: line.color }));
        const radius = points.length > plotWidth / 8 ? 1.5 : 2.4; // dense lines get small dots
        points.forEach(([at, value], index) => {
          const dot = svg("circle", {
            class: "point", cx: xOf(at).toFixed(1), cy: yOf(value).toFixed(1), r: radius, fill: line.color,
          });
          dot.append(svg("title", {}, tip(index)));
          group.append(dot);
        });
      }
      root.append(group);
    });
    return root;
  }

  function legend(widget) {
    const list = el("ul", { class: "legend" });
    for (const line of widget.series) {
      if (!line.visible) continue;
      const empty = line.points.length === 0;
      const item = el("li", {
        class: "legend-item" + (empty ? " empty" : ""),
        "data-label": line.label,
        "data-has-data": String(!empty),
        title: describeMetric(line),
      });
      item.append(el("span", { class: "swatch", style: `background:${line.color}` }));
      item.append(el("span", { class: "label" }, line.label));
      if (line.error) item.append(el("span", { class: "note" }, "(" + line.error + ")"));
      list.append(item);
    }
    return list;
  }

  function describeMetric(line) {
    const metric = line.metric || {};
    if (metric.expression) return metric.expression;
    const dimensions = Object.entries(metric.dimensions || {}).map(([name, value]) => `${name}=${value}`);
    return `${metric.namespace} ${metric.name} ${dimensions.join(" ")} · ${line.stat} per ${formatDuration(line.period)}`;
  }

  function latest(line) {
    return line.points.length ? line.points[line.points.length - 1][1] : null;
  }

  function drawSingleValues(widget) {
    const box = el("div", { class: "single-values" });
    for (const line of widget.series.filter((item) => item.visible)) {
      const value = latest(line);
      const cell = el("div", { class: "single-value", "data-label": line.label });
      cell.append(el("div", { class: "number", style: `color:${line.color}` }, value === null ? "–" : formatValue(value)));
      cell.append(el("div", { class: "what" }, line.label));
      box.append(cell);
    }
    return box;
  }

  function drawBars(widget) {
    const box = el("div", { class: "bars" });
    const visible = widget.series.filter((item) => item.visible);
    const top = Math.max(1e-12, ...visible.map((line) => Math.abs(latest(line) || 0)));
    for (const line of visible) {
      const value = latest(line);
      const row = el("div", { class: "bar-row", "data-label": line.label });
      row.append(el("span", {}, line.label));
      const track = el("div", {});
      track.append(el("div", {
        class: "bar", style: `width:${(100 * Math.abs(value || 0)) / top}%;background:${line.color}`,
      }));
      row.append(track);
      row.append(el("span", {}, value === null ? "no data" : formatValue(value)));
      box.append(row);
    }
    if (widget.view !== "bar") box.append(el("div", { class: "widget-meta" }, `${widget.view} view drawn as bars offline`));
    return box;
  }

  function renderMetric(widget, body, page) {
    const shownPeriods = [...new Set(widget.series.map((line) => line.period))].map(formatDuration).join(", ");
    body.parentElement.querySelector(".widget-meta").textContent =
      `${widget.stat} · ${shownPeriods || formatDuration(widget.period)}${widget.stacked ? " · stacked" : ""}`;
    if (widget.view === "singleValue") {
      body.append(drawSingleValues(widget));
    } else if (["bar", "pie", "gauge"].includes(widget.view)) {
      body.append(drawBars(widget));
    } else {
      const area = el("div", { class: "plot-area" });
      const keys = legend(widget);
      body.append(area);
      body.append(keys);
      area.append(drawTimeSeries(widget, area, page));
    }
    if (!widget.hasData) {
      const target = body.querySelector(".plot-area") || body;
      target.append(el("div", { class: "no-data" }, "No data available. Try adjusting the dashboard time range."));
    }
  }

  // ------------------------------------------------------------------ alarm and text widgets
  function renderAlarms(widget, body) {
    const list = el("ul", { class: "alarms" });
    for (const alarm of widget.alarms) {
      const state = alarm.state || "MISSING";
      const item = el("li", {
        class: "alarm", "data-alarm": alarm.name, "data-state": state,
        title: `${alarm.name}: ${alarm.reason || ""}`,
      });
      item.append(el("span", { class: "badge" }, state === "INSUFFICIENT_DATA" ? "INSUFFICIENT" : state));
      const text = el("div", { class: "alarm-text" });
      text.append(el("div", { class: "alarm-name" }, alarm.name));
      const detail = alarm.found ? (alarm.metric || "") : "not found in the offline cloud";
      text.append(el("div", { class: "alarm-detail" }, detail));
      item.append(text);
      list.append(item);
    }
    if (!widget.alarms.length) body.append(el("div", { class: "widget-error" }, "No alarms to show."));
    body.append(list);
    const counts = {};
    for (const alarm of widget.alarms) counts[alarm.state] = (counts[alarm.state] || 0) + 1;
    body.parentElement.querySelector(".widget-meta").textContent = ["ALARM", "INSUFFICIENT_DATA", "OK"]
      .filter((state) => counts[state]).map((state) => `${counts[state]} ${state}`).join(" · ");
  }

  // ------------------------------------------------------------------ the page
  function placeWidgets(page) {
    // The body's rows share the window's height (never under --row each): the whole dashboard on one screen.
    const bottom = Math.max(1, ...page.widgets.map((widget) => (widget.y || 0) + widget.height));
    document.getElementById("grid").style.gridTemplateRows = `repeat(${bottom}, minmax(var(--row), 1fr))`;
  }

  function render(page) {
    lastPage = page;
    placeWidgets(page);
    document.getElementById("dashboard-name").textContent = `${page.dashboard} · ${page.region}`;
    document.getElementById("clock-note").textContent =
      `· time axis: the simulated clock, scale ${page.clock.scale} ` +
      `(this range is ${formatDuration(Math.round(page.range.realSeconds))} of wall time) · ` +
      `simulated now ${page.clock.nowIso.slice(0, 16).replace("T", " ")} UTC`;
    const grid = document.getElementById("grid");
    const sections = [];
    for (const widget of page.widgets) {
      const section = el("section", {
        class: "widget", "data-index": widget.index, "data-type": widget.type, "data-title": widget.title,
        "data-has-data": widget.type === "metric" ? String(Boolean(widget.hasData)) : null,
      });
      if (widget.x !== null && widget.y !== null) {
        section.style.gridColumn = `${widget.x + 1} / span ${widget.width}`;
        section.style.gridRow = `${widget.y + 1} / span ${widget.height}`;
      } else {
        section.style.gridColumn = `span ${widget.width}`;
        section.style.gridRow = `span ${widget.height}`;
      }
      const head = el("div", { class: "widget-head" });
      head.append(el("h2", { class: "widget-title" }, widget.title || "(untitled)"));
      head.append(el("span", { class: "widget-meta" }));
      const body = el("div", { class: "widget-body" });
      section.append(head, body);
      sections.push([section, widget, body]);
    }
    grid.replaceChildren(...sections.map(([section]) => section));
    // Drawn once in the document, so each plot knows the room its widget has.
    for (const [, widget, body] of sections) {
      if (widget.error) {
        body.append(el("div", { class: "widget-error" }, widget.error));
      } else if (widget.type === "metric") {
        renderMetric(widget, body, page);
      } else if (widget.type === "alarm") {
        renderAlarms(widget, body);
      } else if (widget.type === "text") {
        body.append(el("div", { class: "text-widget" }, widget.markdown));
      }
    }
    renders += 1;
    document.body.dataset.state = "ready";
    document.body.dataset.renders = String(renders);
  }

  function drawRanges(page) {
    const nav = document.getElementById("ranges");
    const current = range || page.range.bodyStart.replace(/^-/, "");
    const buttons = RANGES.map(([value, label]) => {
      const button = el("button", { type: "button", "data-range": value, "aria-pressed": String(value === current) }, label);
      button.addEventListener("click", () => {
        range = value;
        const url = new URL(window.location.href);
        url.searchParams.set("range", value);
        window.history.replaceState(null, "", url);
        refresh();
      });
      return button;
    });
    nav.replaceChildren(...buttons);
  }

  function showError(message) {
    const banner = document.getElementById("banner");
    banner.hidden = !message;
    banner.textContent = message || "";
  }

  async function refresh() {
    window.clearTimeout(timer);
    const status = document.getElementById("status");
    try {
      const response = await fetch("/api/dashboard" + (range ? "?range=" + encodeURIComponent(range) : ""), {
        cache: "no-store",
      });
      const page = await response.json();
      if (!response.ok) throw new Error(page.error || response.statusText);
      showError("");
      render(page);
      drawRanges(page);
      const at = new Date();
      status.textContent = `updated ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}` +
        (refreshSeconds > 0 ? ` · every ${refreshSeconds} s` : " · refresh off");
      status.title = "wall-clock time of the last update";
    } catch (error) {
      showError("The dashboard could not be read from the offline cloud: " + error.message);
      status.textContent = "not updated";
      document.body.dataset.state = lastPage ? "ready" : "error";
    }
    if (refreshSeconds > 0) timer = window.setTimeout(refresh, refreshSeconds * 1000);
  }

  let resizing = null;
  window.addEventListener("resize", () => {
    window.clearTimeout(resizing);
    resizing = window.setTimeout(() => lastPage && render(lastPage), 150);
  });

  refresh();
})();
