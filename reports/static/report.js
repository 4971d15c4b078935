(function () {
  "use strict";

  function readJson(id) {
    var el = document.getElementById(id);
    if (!el) { return null; }
    try { return JSON.parse(el.textContent); } catch (err) { return null; }
  }
  function el(tag, cls, text) {
    var node = document.createElement(tag);
    if (cls) { node.className = cls; }
    if (text !== undefined) { node.textContent = text; }
    return node;
  }

  var index = readJson("ts-index") || [];
  var themes = readJson("ts-themes") || [];
  var data = readJson("ts-map-data");
  var root = document.documentElement;
  var css = getComputedStyle(root);
  var palette = [];
  for (var p = 0; p < 10; p++) { palette.push(css.getPropertyValue("--p" + p).trim() || "#4e79a7"); }
  var noiseColour = css.getPropertyValue("--noise").trim() || "#b9bfca";
  var dark = window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches;

  // ---------------------------------------------------------------- filter (cards, legend, map)
  var box = document.getElementById("ts-filter");
  var bar = document.getElementById("ts-toolbar");
  var count = document.getElementById("ts-count");
  var nomatch = document.getElementById("ts-nomatch");
  var cards = document.querySelectorAll("[data-theme-card]");
  var legendItems = document.querySelectorAll("[data-legend]");
  var matches = null;  // null: no filter; else an array of booleans per theme index

  function applyFilter() {
    var terms = box ? box.value.toLowerCase().split(/\s+/).filter(Boolean) : [];
    var shown = 0;
    matches = terms.length ? [] : null;
    for (var i = 0; i < cards.length; i++) {
      var text = index[i] ? index[i].text : "";
      var ok = terms.every(function (t) { return text.indexOf(t) !== -1; });
      cards[i].hidden = !ok;
      if (legendItems[i]) { legendItems[i].hidden = !ok; }
      if (matches) { matches.push(ok); }
      if (ok) { shown++; }
    }
    if (count) {
      count.textContent = terms.length
        ? shown + " of " + cards.length + " themes match"
        : cards.length + (cards.length === 1 ? " theme" : " themes");
    }
    if (nomatch) { nomatch.hidden = shown !== 0; }
    if (map) { map.request(); }
  }

  // ---------------------------------------------------------------- the map
  var map = data && data.x && document.getElementById("ts-map") ? makeMap(data) : null;

  function makeMap(d) {
    var canvas = document.getElementById("ts-map");
    var box = document.getElementById("ts-mapbox");
    var tip = document.getElementById("ts-tip");
    var sel = document.getElementById("ts-sel");
    var ctx = canvas.getContext("2d");
    var n = d.x.length, W = 0, H = 0, dpr = 1;
    var view = { cx: 5000, cy: 5000, k: 0.05 }, k0 = 0.05;
    var selected = -1, focus = false, pending = false, drawnCount = 0;
    var colours = palette.map(hexToRgb);
    var noiseRgb = hexToRgb(noiseColour);
    var fadedRgb = dark ? [58, 64, 76] : [222, 226, 232];

    function hexToRgb(hex) {
      var m = /^#?([0-9a-f]{6})$/i.exec(hex);
      if (!m) { return [120, 120, 120]; }
      var v = parseInt(m[1], 16);
      return [(v >> 16) & 255, (v >> 8) & 255, v & 255];
    }

    // A uniform grid over the world square (0..9999) for nearest-point look-ups.
    var G = 128, CELL = 10000 / G;
    function buildGrid(ids) {
      var heads = new Int32Array(G * G).fill(-1), next = new Int32Array(ids.length);
      for (var j = 0; j < ids.length; j++) {
        var i = ids[j];
        var c = Math.min(G - 1, (d.x[i] / CELL) | 0) * G + Math.min(G - 1, (d.y[i] / CELL) | 0);
        next[j] = heads[c]; heads[c] = j;
      }
      return { heads: heads, next: next, ids: ids };
    }
    var all = new Int32Array(n);
    for (var a = 0; a < n; a++) { all[a] = a; }
    var gridAll = buildGrid(all);
    var gridText = buildGrid(Int32Array.from(d.p || []));
    var textOf = new Map();
    (d.p || []).forEach(function (pt, j) { textOf.set(pt, j); });

    function nearest(grid, wx, wy, radius, usable) {
      var best = -1, bestD = radius * radius;
      var x0 = Math.max(0, ((wx - radius) / CELL) | 0), x1 = Math.min(G - 1, ((wx + radius) / CELL) | 0);
      var y0 = Math.max(0, ((wy - radius) / CELL) | 0), y1 = Math.min(G - 1, ((wy + radius) / CELL) | 0);
      for (var gx = x0; gx <= x1; gx++) {
        for (var gy = y0; gy <= y1; gy++) {
          for (var j = grid.heads[gx * G + gy]; j !== -1; j = grid.next[j]) {
            var i = grid.ids[j];
            if (!usable(i)) { continue; }
            var dx = d.x[i] - wx, dy = d.y[i] - wy, dd = dx * dx + dy * dy;
            if (dd <= bestD) { bestD = dd; best = i; }
          }
        }
      }
      return best;
    }

    function visible(t) { return t < 0 ? !matches : (!matches || matches[t]); }
    function usable(i) {
      var t = d.t[i];
      if (focus && selected >= 0) { return t === selected; }
      return visible(t);
    }

    function resize() {
      dpr = window.devicePixelRatio || 1;
      W = box.clientWidth; H = box.clientHeight;
      canvas.width = Math.max(1, Math.round(W * dpr));
      canvas.height = Math.max(1, Math.round(H * dpr));
      request();
    }

    function bounds(pred) {
      var x0 = 1e9, x1 = -1e9, y0 = 1e9, y1 = -1e9, any = false;
      for (var i = 0; i < n; i++) {
        if (pred && !pred(i)) { continue; }
        any = true;
        if (d.x[i] < x0) { x0 = d.x[i]; } if (d.x[i] > x1) { x1 = d.x[i]; }
        if (d.y[i] < y0) { y0 = d.y[i]; } if (d.y[i] > y1) { y1 = d.y[i]; }
      }
      return any ? [x0, y0, x1, y1] : [0, 0, 9999, 9999];
    }
    function fit(pred) {
      var b = bounds(pred);
      var w = Math.max(b[2] - b[0], 200), h = Math.max(b[3] - b[1], 200);
      view.cx = (b[0] + b[2]) / 2; view.cy = (b[1] + b[3]) / 2;
      view.k = Math.min((W || 600) / w, (H || 400) / h) * 0.88;
      if (!pred) { k0 = view.k; }
      request();
    }

    function request() {
      if (!pending) { pending = true; window.requestAnimationFrame(render); }
    }

    function colourOf(i) {
      var t = d.t[i];
      if (t < 0) { return selected >= 0 || matches ? fadedRgb : noiseRgb; }
      if (!visible(t)) { return fadedRgb; }
      if (selected >= 0 && t !== selected) { return fadedRgb; }
      if (focus && t === selected) {
        // Subtheme colours on a theme page; chunks in no subtheme are neutral, unless the theme has none at all.
        if (d.s[i] >= 0) { return colours[d.s[i] % 10]; }
        return themes[t].subs && themes[t].subs.length ? noiseRgb : colours[t % 10];
      }
      return colours[t % 10];
    }

    function render() {
      pending = false;
      var started = performance.now();
      var w = canvas.width, h = canvas.height;
      ctx.setTransform(1, 0, 0, 1, 0, 0);
      ctx.clearRect(0, 0, w, h);
      var k = view.k * dpr, ox = w / 2 - view.cx * k, oy = h / 2 + view.cy * k;
      var big = n <= 20000;
      var base = n < 3000 ? 4.5 : n < 10000 ? 3.4 : 2.6;  // dot diameter in CSS pixels at the fitted zoom
      var size = big ? Math.min(base * 2.5, base * Math.max(1, Math.sqrt(view.k / k0))) * dpr : 2 * dpr;
      drawnCount = 0;
      // Three passes so faded dots sit under noise, and noise under themed dots; the selection on top.
      var passes = [function (c) { return c === fadedRgb; }, function (c) { return c === noiseRgb; },
                    function (c) { return c !== fadedRgb && c !== noiseRgb; }];
      if (big) {
        for (var ps = 0; ps < 3; ps++) {
          var byColour = new Map();
          for (var i = 0; i < n; i++) {
            var c = colourOf(i);
            if (!passes[ps](c)) { continue; }
            var sx = ox + d.x[i] * k, sy = oy - d.y[i] * k;
            if (sx < -size || sy < -size || sx > w + size || sy > h + size) { continue; }
            var path = byColour.get(c);
            if (!path) { path = new Path2D(); byColour.set(c, path); }
            path.moveTo(sx + size / 2, sy);
            path.arc(sx, sy, size / 2, 0, 6.2832);
            drawnCount++;
          }
          byColour.forEach(function (path, c) {
            ctx.fillStyle = "rgba(" + c[0] + "," + c[1] + "," + c[2] + "," + (c === fadedRgb ? 0.9 : 0.82) + ")";
            ctx.fill(path);
          });
        }
      } else {
        var img = ctx.createImageData(w, h), px = new Uint32Array(img.data.buffer), s = Math.max(1, Math.round(size));
        for (var pass = 0; pass < 3; pass++) {
          for (var q = 0; q < n; q++) {
            var col = colourOf(q);
            if (!passes[pass](col)) { continue; }
            var x = Math.round(ox + d.x[q] * k), y = Math.round(oy - d.y[q] * k);
            if (x < 0 || y < 0 || x + s > w || y + s > h) { continue; }
            var v = (255 << 24) | (col[2] << 16) | (col[1] << 8) | col[0];
            for (var yy = 0; yy < s; yy++) { var row = (y + yy) * w + x; for (var xx = 0; xx < s; xx++) { px[row + xx] = v; } }
            drawnCount++;
          }
        }
        ctx.putImageData(img, 0, 0);
      }
      drawLabels(k, ox, oy);
      canvas.setAttribute("data-points-drawn", String(drawnCount));
      // For tests and bench/report.py: what was drawn, the view, and how long the frame took.
      canvas.setAttribute("data-view", JSON.stringify([view.cx, view.cy, view.k]));
      canvas.setAttribute("data-render-ms", (performance.now() - started).toFixed(1));
      if (!root.hasAttribute("data-ts-drawn-ms")) { root.setAttribute("data-ts-drawn-ms", performance.now().toFixed(0)); }
    }

    function drawLabels(k, ox, oy) {
      var placed = [];
      ctx.font = (12 * dpr) + "px system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif";
      ctx.textAlign = "center"; ctx.textBaseline = "middle"; ctx.lineJoin = "round";
      var items = [];
      if (focus && selected >= 0) {
        (d.sublabels[selected] || []).forEach(function (pos, j) {
          if (pos) { items.push({ pos: pos, text: (themes[selected].subs[j] || ""), strong: true }); }
        });
      } else {
        (d.labels || []).forEach(function (pos, t) {
          if (pos && visible(t) && (selected < 0 || selected === t)) { items.push({ pos: pos, text: themes[t] ? themes[t].h : "", strong: t === selected }); }
        });
      }
      for (var j = 0; j < items.length && placed.length < 40; j++) {
        var text = items[j].text.length > 30 ? items[j].text.slice(0, 29) + "\u2026" : items[j].text;
        var sx = ox + items[j].pos[0] * k, sy = oy - items[j].pos[1] * k;
        var tw = ctx.measureText(text).width + 8 * dpr, th = 16 * dpr;
        var r = [sx - tw / 2, sy - th / 2, sx + tw / 2, sy + th / 2];
        if (r[2] < 0 || r[3] < 0 || r[0] > canvas.width || r[1] > canvas.height) { continue; }
        var clash = placed.some(function (o) { return r[0] < o[2] && r[2] > o[0] && r[1] < o[3] && r[3] > o[1]; });
        if (clash) { continue; }
        placed.push(r);
        ctx.lineWidth = 4 * dpr;
        ctx.strokeStyle = dark ? "rgba(18,21,27,.9)" : "rgba(255,255,255,.92)";
        ctx.strokeText(text, sx, sy);
        ctx.fillStyle = dark ? "#e6e9ef" : "#1d2330";
        ctx.fillText(text, sx, sy);
      }
    }

    function toWorld(ev) {
      var r = canvas.getBoundingClientRect();
      var sx = ev.clientX - r.left, sy = ev.clientY - r.top;
      return [view.cx + (sx - W / 2) / view.k, view.cy - (sy - H / 2) / view.k, sx, sy];
    }

    function showTip(ev) {
      var w = toWorld(ev);
      var i = nearest(gridText, w[0], w[1], 10 / view.k, usable);
      if (i < 0) { tip.hidden = true; return; }
      var j = textOf.get(i), t = d.t[i];
      tip.textContent = "";
      var head = el("div", "tt");
      var sw = el("span", "swatch");
      sw.style.background = t < 0 ? noiseColour : palette[t % 10];
      head.appendChild(sw);
      head.appendChild(el("span", null, t < 0 ? "noise" : (themes[t].id + " \u00b7 " + themes[t].h)));
      tip.appendChild(head);
      tip.appendChild(el("div", null, d.pt[j]));
      tip.appendChild(el("span", "src", d.files[d.pf[j]] || ""));
      tip.hidden = false;
      var x = w[2] + 14, y = w[3] + 14;
      if (x + tip.offsetWidth > W - 6) { x = Math.max(6, w[2] - tip.offsetWidth - 14); }
      if (y + tip.offsetHeight > H - 6) { y = Math.max(6, w[3] - tip.offsetHeight - 14); }
      tip.style.left = x + "px"; tip.style.top = y + "px";
    }

    function select(t, opts) {
      selected = t;
      for (var i = 0; i < legendItems.length; i++) { legendItems[i].classList.toggle("on", i === t); }
      sel.textContent = "";
      if (t >= 0 && !focus) {
        var sw = el("span", "swatch");
        sw.style.background = palette[t % 10];
        sel.appendChild(sw);
        sel.appendChild(el("strong", null, themes[t].id));
        sel.appendChild(el("span", null, themes[t].h + " \u00b7 " + themes[t].n + " chunks"));
        var open = el("a", "open", "Open theme \u2192");
        open.href = "#theme-" + themes[t].dom;  // dom ids are [A-Za-z0-9_-] only (tasks.report.dom_id)
        sel.appendChild(open);
        var clear = el("button", null, "Clear");
        clear.type = "button";
        clear.addEventListener("click", function () { select(-1); });
        sel.appendChild(clear);
      }
      sel.hidden = !(t >= 0 && !focus);
      if (opts && opts.zoom && t >= 0) { fit(function (i) { return d.t[i] === t; }); }
      request();
    }

    // pan, zoom, hover, click
    var drag = null;
    canvas.addEventListener("pointerdown", function (ev) {
      drag = { x: ev.clientX, y: ev.clientY, cx: view.cx, cy: view.cy, moved: false };
      canvas.setPointerCapture(ev.pointerId);
    });
    canvas.addEventListener("pointermove", function (ev) {
      if (drag) {
        var dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
        if (Math.abs(dx) + Math.abs(dy) > 3) { drag.moved = true; canvas.classList.add("dragging"); tip.hidden = true; }
        if (drag.moved) { view.cx = drag.cx - dx / view.k; view.cy = drag.cy + dy / view.k; request(); }
        return;
      }
      showTip(ev);
    });
    canvas.addEventListener("pointerup", function (ev) {
      var wasDrag = drag && drag.moved;
      drag = null;
      canvas.classList.remove("dragging");
      if (wasDrag) { return; }
      var w = toWorld(ev);
      var i = nearest(gridAll, w[0], w[1], 8 / view.k, usable);
      if (focus) { return; }
      select(i >= 0 && d.t[i] >= 0 && d.t[i] !== selected ? d.t[i] : -1);
    });
    canvas.addEventListener("pointerleave", function () { if (!drag) { tip.hidden = true; } });
    function zoomAt(factor, sx, sy) {
      var wx = view.cx + (sx - W / 2) / view.k, wy = view.cy - (sy - H / 2) / view.k;
      view.k = Math.min(Math.max(view.k * factor, 0.005), 20);
      view.cx = wx - (sx - W / 2) / view.k; view.cy = wy + (sy - H / 2) / view.k;
      request();
    }
    canvas.addEventListener("wheel", function (ev) {
      ev.preventDefault();
      var r = canvas.getBoundingClientRect();
      zoomAt(Math.exp(-ev.deltaY * 0.0015), ev.clientX - r.left, ev.clientY - r.top);
      tip.hidden = true;
    }, { passive: false });
    var tools = document.getElementById("ts-map-tools");
    if (tools) {
      tools.hidden = false;
      tools.addEventListener("click", function (ev) {
        var b = ev.target.closest("button");
        if (!b) { return; }
        var z = b.getAttribute("data-zoom");
        if (z === "in") { zoomAt(1.5, W / 2, H / 2); }
        else if (z === "out") { zoomAt(1 / 1.5, W / 2, H / 2); }
        else { fit(focus && selected >= 0 ? function (i) { return d.t[i] === selected; } : null); }
      });
    }
    for (var li = 0; li < legendItems.length; li++) {
      (function (t) {
        legendItems[t].querySelector("button").addEventListener("click", function () {
          select(selected === t ? -1 : t, { zoom: false });
        });
      })(Number(legendItems[li].getAttribute("data-legend")));
    }

    if (window.ResizeObserver) { new ResizeObserver(resize).observe(box); }
    window.addEventListener("resize", resize);
    resize();
    fit(null);

    return {
      request: request,
      box: box,
      // Show one theme on its own page: coloured by subtheme, zoomed to it; or go back to the overview.
      focusTheme: function (t) {
        focus = t >= 0;
        tip.hidden = true;
        select(t);
        resize();
        fit(t >= 0 ? function (i) { return d.t[i] === t; } : null);
      },
      drawn: function () { return drawnCount; }
    };
  }

  // ---------------------------------------------------------------- cards and theme pages
  for (var c = 0; c < cards.length; c++) {
    cards[c].addEventListener("click", function (ev) {
      if (ev.target.closest("a, button") || String(window.getSelection() || "")) { return; }
      window.location.hash = "#theme-" + this.getAttribute("data-theme");
    });
  }

  var home = document.querySelector("[data-map-home]");
  function route() {
    var id = window.location.hash.slice(1);
    var page = id ? document.getElementById(id) : null;
    var pos = page && page.hasAttribute("data-theme-page") ? Number(page.getAttribute("data-theme-page")) : -1;
    if (pos >= 0) {  // a theme page starts at the top (the browser would scroll to the fragment's element)
      window.scrollTo(0, 0);
      window.requestAnimationFrame(function () { window.scrollTo(0, 0); });
    }
    if (!map) { return; }
    var slot = pos >= 0 ? page.querySelector("[data-map-slot]") : home;
    if (slot && map.box.parentNode !== slot) { slot.appendChild(map.box); }
    map.focusTheme(pos);
  }
  window.addEventListener("hashchange", route);

  if (bar && box) {
    bar.hidden = false;
    box.addEventListener("input", applyFilter);
    document.addEventListener("keydown", function (ev) {
      if (ev.key === "/" && document.activeElement !== box) { ev.preventDefault(); box.focus(); }
      else if (ev.key === "Escape" && document.activeElement === box) { box.value = ""; applyFilter(); }
    });
  }
  applyFilter();
  route();
  root.setAttribute("data-ts-ready", "1");
})();
