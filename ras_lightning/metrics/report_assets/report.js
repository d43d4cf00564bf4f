// report.html's page: tables, curves and the per-image browser, from window.REPORT_DATA
// (report_files/data.js). Runs offline from file://: no requests, no libraries.
(function () {
  "use strict";
  var D = window.REPORT_DATA;
  var app = document.getElementById("app");
  var viewer = document.getElementById("viewer");
  var PAGE = 50;
  var COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22", "#17becf"];
  var ENT = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };

  function esc(s) { return String(s).replace(/[&<>"']/g, function (c) { return ENT[c]; }); }
  function fmt(v) {
    if (v === null || v === undefined) return "\u2013";
    return Math.abs(v) >= 100 ? v.toFixed(1) : v.toFixed(4);
  }
  function fmtS(v) { return (v > 0 ? "+" : "") + fmt(v); }
  function el(id) { return document.getElementById(id); }

  if (!D) { app.textContent = "report_files/data.js is missing: copy report_files with the page."; return; }

  document.getElementById("meta").textContent =
    "Generated " + D.generated + " \u00b7 convention " + D.convention;

  // ---------------------------------------------------------------- summary and metric table
  var html = "";
  if (D.info && D.info.length) {
    html += "<section><h2>Setup</h2><table class='info'>";
    D.info.forEach(function (r) {
      html += "<tr><th>" + esc(r[0]) + "</th><td>" + esc(r[1]) + "</td></tr>";
    });
    html += "</table></section>";
  }
  html += "<section><h2>Metrics</h2>";
  if (D.has_ci) html += "<p class='note'>Value with its 95% bootstrap interval over images.</p>";
  D.datasets.forEach(function (d) {
    html += "<h3>" + esc(d.name) + "</h3><table class='metrics'><thead><tr><th>method</th>" +
      "<th>images</th>";
    D.summary_metrics.forEach(function (m) {
      html += "<th title='" + esc(m.name) + "'>" + esc(m.title) + (m.higher ? " \u2191" : " \u2193") +
        "</th>";
    });
    html += "</tr></thead><tbody>";
    var best = {};
    D.summary_metrics.forEach(function (m) {
      var vals = Object.keys(d.table).filter(function (k) { return !d.table[k].derived; }).map(function (k) {
        var c = d.table[k].metrics[m.name];
        return c ? c.value : null;
      }).filter(function (v) { return v !== null; });
      if (vals.length > 1) best[m.name] = m.higher ? Math.max.apply(null, vals) : Math.min.apply(null, vals);
    });
    Object.keys(d.table).forEach(function (k) {
      var t = d.table[k];
      html += "<tr><th>" + esc(k) + "</th><td>" + t.count + "</td>";
      D.summary_metrics.forEach(function (m) {
        var c = t.metrics[m.name];
        if (!c) { html += "<td></td>"; return; }
        var b = !t.derived && best[m.name] === c.value ? " class='best'" : "";
        var ci = c.low !== undefined ? "<span class='ci'>[" + fmt(c.low) + ", " + fmt(c.high) + "]</span>" : "";
        var note = c.note ? "<span class='ci'>" + esc(c.note) + "</span>" : "";
        html += "<td" + b + ">" + (t.derived ? fmtS(c.value) : fmt(c.value)) + ci + note + "</td>";
      });
      html += "</tr>";
    });
    html += "</tbody></table>";
  });
  html += "</section>";

  // ---------------------------------------------------------------------------- the curves
  function plot(d, title, xlabel, ylabel, xmin, xmax, series) {
    var W = 320, H = 260, L = 44, R = 10, T = 24, B = 36;
    function sx(x) { return L + (x - xmin) / (xmax - xmin) * (W - L - R); }
    function sy(y) { return T + (1 - y) * (H - T - B); }
    var s = "<svg class='plot' width='" + W + "' height='" + H + "' viewBox='0 0 " + W + " " + H + "'>";
    s += "<text x='" + W / 2 + "' y='15' class='ptitle'>" + esc(title) + "</text>";
    for (var i = 0; i <= 5; i++) {
      var y = i / 5, x = xmin + i / 5 * (xmax - xmin);
      s += "<line class='grid' x1='" + L + "' x2='" + (W - R) + "' y1='" + sy(y) + "' y2='" + sy(y) + "'/>";
      s += "<line class='grid' y1='" + T + "' y2='" + (H - B) + "' x1='" + sx(x) + "' x2='" + sx(x) + "'/>";
      s += "<text class='tick' x='" + (L - 4) + "' y='" + (sy(y) + 4) + "' text-anchor='end'>" + y.toFixed(1) + "</text>";
      s += "<text class='tick' x='" + sx(x) + "' y='" + (H - B + 14) + "' text-anchor='middle'>" +
        (xmax > 1 ? Math.round(x) : x.toFixed(1)) + "</text>";
    }
    s += "<text class='axis' x='" + ((L + W - R) / 2) + "' y='" + (H - 4) + "'>" + esc(xlabel) + "</text>";
    s += "<text class='axis' transform='translate(11," + ((T + H - B) / 2) + ") rotate(-90)'>" + esc(ylabel) + "</text>";
    series.forEach(function (ser, i) {
      var pts = [];
      for (var j = 0; j < ser.x.length; j++) {
        if (ser.x[j] === null || ser.y[j] === null) continue;
        pts.push(sx(ser.x[j]).toFixed(1) + "," + sy(ser.y[j]).toFixed(1));
      }
      s += "<polyline fill='none' stroke='" + COLORS[i % COLORS.length] + "' stroke-width='1.6' points='" +
        pts.join(" ") + "'><title>" + esc(ser.name) + "</title></polyline>";
    });
    return s + "</svg>";
  }
  var thresholds = [];
  for (var t = 255; t >= 0; t--) thresholds.push(t);
  html += "<section><h2>Curves</h2><p class='note'>Mean over images; thresholds 255..0.</p>";
  D.datasets.forEach(function (d) {
    html += "<h3>" + esc(d.name) + "</h3><div class='legend'>";
    d.methods.forEach(function (k, i) {
      html += "<span><i style='background:" + COLORS[i % COLORS.length] + "'></i>" + esc(k) + "</span>";
    });
    html += "</div><div class='plots'>";
    function series(xk, yk) {
      return d.methods.map(function (k) {
        var c = d.table[k].curves;
        return { name: k, x: xk ? c[xk] : thresholds, y: c[yk] };
      }).filter(function (s) { return s.y && s.x; });
    }
    var pr = series("recall", "precision");
    if (pr.length) html += plot(d, "PR curve", "recall", "precision", 0, 1, pr);
    var f = series(null, "f");
    if (f.length) html += plot(d, "F-measure", "threshold", "F (\u03b2\u00b2 = 0.3)", 0, 255, f);
    var e = series(null, "e");
    if (e.length) html += plot(d, "E-measure", "threshold", "E-measure", 0, 255, e);
    html += "</div>";
  });
  html += "</section>";

  // ------------------------------------------------------------------- the per-image browser
  html += "<section id='browser'><h2>Images</h2>" +
    "<p class='note'>Error overlay: the map, min-max normalised as scored, thresholded at " + D.threshold +
    " (mask at 128): <i class='sw' style='background:" + D.colors.fp + "'></i> false positive " +
    "(map says object, mask says background), <i class='sw' style='background:" + D.colors.fn +
    "'></i> false negative (object missed), light gray correct object, dark correct background. " +
    "Click a column to sort (first click: worst first), a row to see its images full size.</p>" +
    "<div class='controls'>" +
    "<label>dataset <select id='ds'></select></label>" +
    "<span id='method-filter'></span>" +
    "<label>image <input id='name-filter' type='search' placeholder='name contains'></label>" +
    "<label>metrics <span id='metric-filter'></span></label>" +
    "</div><div class='pager'><button id='prev-page'>\u25c0 previous</button> " +
    "<span id='page-info'></span> <button id='next-page'>next \u25b6</button></div>" +
    "<div class='scroll'><table id='images'></table></div></section>";
  app.innerHTML = html;

  var state = { ds: 0, methods: null, metrics: null, filter: "", sort: null, dir: 1, page: 0, order: [] };
  var DEFAULT_METRICS = ["mae", "s_measure", "weighted_f", "max_f", "max_e", "adaptive_e"];

  function ds() { return D.datasets[state.ds]; }

  function setDataset(i) {
    state.ds = i;
    var d = ds();
    state.methods = d.methods.map(function () { return true; });
    var names = D.metrics.map(function (m) { return m.name; });
    var shown = names.filter(function (n) { return DEFAULT_METRICS.indexOf(n) >= 0; });
    state.metrics = {};
    (shown.length ? shown : names.slice(0, 6)).forEach(function (n) { state.metrics[n] = true; });
    state.page = 0;
    state.sort = null;
    if (D.sort) {
      var parts = D.sort.split(":");
      if (parts[0] === "extra" && d.extra[parts[1]]) state.sort = "x:" + parts[1] + ":" + parts[2];
      else if (d.methods.indexOf(parts[0]) >= 0) state.sort = "m:" + d.methods.indexOf(parts[0]) + ":" + parts[1];
      state.dir = 1;
      if (state.sort) state.dir = worstFirst(parts[2] || parts[1], parts[0] === "extra");
    }
    el("method-filter").innerHTML = d.methods.length > 1 ? "methods " + d.methods.map(function (k, j) {
      return "<label><input type='checkbox' class='mf' data-i='" + j + "' checked> " + esc(k) + "</label>";
    }).join(" ") : "";
    el("metric-filter").innerHTML = D.metrics.map(function (m) {
      return "<label><input type='checkbox' class='xf' data-m='" + esc(m.name) + "'" +
        (state.metrics[m.name] ? " checked" : "") + "> " + esc(m.title) + "</label>";
    }).join(" ");
    sortRows();
    render();
  }

  function metricInfo(name) {
    for (var i = 0; i < D.metrics.length; i++) if (D.metrics[i].name === name) return D.metrics[i];
    return { name: name, title: name, higher: true };
  }

  // +1: ascending; worst first is descending for lower-is-better metrics (MAE)
  function worstFirst(name, isExtra) {
    if (isExtra) return -1; // differences: the largest first
    return metricInfo(name).higher ? 1 : -1;
  }

  function column(key) {
    var d = ds();
    if (key === "name") return d.images;
    var p = key.split(":");
    if (p[0] === "m") return d.values[d.methods[+p[1]]][p[2]];
    return d.extra[p[1]][p[2]];
  }

  function sortRows() {
    var d = ds();
    var f = state.filter.toLowerCase();
    var idx = [];
    for (var i = 0; i < d.images.length; i++) {
      if (!f || d.images[i].toLowerCase().indexOf(f) >= 0) idx.push(i);
    }
    if (state.sort) {
      var col = column(state.sort), dir = state.dir, byName = state.sort === "name";
      idx.sort(function (a, b) {
        var x = col[a], y = col[b];
        if (x === null || x === undefined) return (y === null || y === undefined) ? a - b : 1;
        if (y === null || y === undefined) return -1;
        if (byName) return dir * (x < y ? -1 : x > y ? 1 : 0);
        if (x !== y) return dir * (x - y);
        return a - b;
      });
    }
    state.order = idx;
  }

  function thumb(src, alt) {
    return src ? "<img loading='lazy' src='" + esc(src) + "' alt='" + esc(alt) + "'>" : "<span class='none'>\u2013</span>";
  }

  function sortHead(key, label, title) {
    var mark = state.sort === key ? (state.dir > 0 ? " \u25b2" : " \u25bc") : "";
    return "<th class='sortable' data-sort='" + esc(key) + "' title='" + esc(title || label) + "'>" +
      esc(label) + mark + "</th>";
  }

  function render() {
    var d = ds();
    var metrics = D.metrics.filter(function (m) { return state.metrics[m.name]; });
    var shown = [];
    d.methods.forEach(function (k, j) { if (state.methods[j]) shown.push(j); });
    var extras = Object.keys(d.extra);
    var hasPhoto = !!d.thumbs.photo, hasMask = !!d.thumbs.mask;
    var top = "<tr><th rowspan='2'>#</th>" + "<th rowspan='2' class='sortable' data-sort='name'>image" +
      (state.sort === "name" ? (state.dir > 0 ? " \u25b2" : " \u25bc") : "") + "</th>";
    if (hasPhoto) top += "<th rowspan='2'>photo</th>";
    if (hasMask) top += "<th rowspan='2'>mask</th>";
    var sub = "";
    extras.forEach(function (x) {
      var ms = metrics.filter(function (m) { return d.extra[x][m.name]; });
      if (!ms.length) return;
      top += "<th class='group' colspan='" + ms.length + "'>" + esc(x) + "</th>";
      ms.forEach(function (m) { sub += sortHead("x:" + x + ":" + m.name, m.title, x + ": " + m.name); });
    });
    shown.forEach(function (j) {
      top += "<th class='group' colspan='" + (2 + metrics.length) + "'>" + esc(d.methods[j]) + "</th>";
      sub += "<th>map</th><th>errors</th>";
      metrics.forEach(function (m) {
        sub += sortHead("m:" + j + ":" + m.name, m.title + (m.higher ? " \u2191" : " \u2193"), d.methods[j] + ": " + m.name);
      });
    });
    var n = state.order.length, pages = Math.max(1, Math.ceil(n / PAGE));
    state.page = Math.min(state.page, pages - 1);
    var from = state.page * PAGE, to = Math.min(n, from + PAGE);
    var body = "";
    for (var r = from; r < to; r++) {
      var i = state.order[r];
      var row = "<tr class='row' data-i='" + i + "'><td class='rank'>" + (r + 1) + "</td><td class='name'>" +
        esc(d.images[i]) + "</td>";
      if (hasPhoto) row += "<td>" + thumb(d.thumbs.photo[i], "photo") + "</td>";
      if (hasMask) row += "<td>" + thumb(d.thumbs.mask[i], "mask") + "</td>";
      extras.forEach(function (x) {
        metrics.forEach(function (m) {
          var c = d.extra[x][m.name];
          if (c) row += "<td class='num'>" + fmtS(c[i]) + "</td>";
        });
      });
      shown.forEach(function (j) {
        var mt = d.thumbs["map" + j], et = d.thumbs["err" + j];
        row += "<td>" + thumb(mt && mt[i], "map") + "</td><td>" + thumb(et && et[i], "errors") + "</td>";
        metrics.forEach(function (m) { row += "<td class='num'>" + fmt(d.values[d.methods[j]][m.name][i]) + "</td>"; });
      });
      body += row + "</tr>";
    }
    el("images").innerHTML = "<thead>" + top + "</tr><tr>" + sub + "</tr></thead><tbody>" + body + "</tbody>";
    el("page-info").textContent = n ? "images " + (from + 1) + "\u2013" + to + " of " + n +
      " (page " + (state.page + 1) + " of " + pages + ")" : "no image matches";
    el("prev-page").disabled = state.page === 0;
    el("next-page").disabled = state.page >= pages - 1;
  }

  // ------------------------------------------------------------------- full-size viewer
  var current = -1, fitting = false;
  function figure(src, caption) {
    if (!src) return "";
    return "<figure><img class='full' src='" + esc(src) + "' alt='" + esc(caption) + "'><figcaption>" +
      esc(caption) + "</figcaption></figure>";
  }
  function openViewer(i) {
    var d = ds();
    current = i;
    var s = "<div class='vbar'><button id='v-prev'>\u25c0</button><button id='v-next'>\u25b6</button> <b>" +
      esc(d.name) + " / " + esc(d.images[i]) + "</b> <label><input type='checkbox' id='v-fit'> fit to the window</label>" +
      " <span class='note'>(arrow keys: previous/next, Esc: close)</span>" +
      "<button id='v-close'>close \u2715</button></div><div class='vimgs'>";
    if (d.full.photo) s += figure(d.full.photo[i], "photo");
    if (d.full.mask) s += figure(d.full.mask[i], "mask");
    d.methods.forEach(function (k, j) {
      if (!state.methods[j]) return;
      var vals = D.metrics.filter(function (m) { return state.metrics[m.name]; }).map(function (m) {
        return m.title + " " + fmt(d.values[k][m.name][i]);
      }).join(", ");
      var fm = d.full["map" + j], fe = d.full["err" + j];
      s += figure(fm && fm[i], k + ": map (" + vals + ")");
      s += figure(fe && fe[i], k + ": errors");
    });
    viewer.innerHTML = s + "</div>";
    viewer.querySelector(".vimgs").classList.toggle("fit", fitting);
    el("v-fit").checked = fitting;
    el("v-fit").onchange = function () {
      fitting = this.checked;
      viewer.querySelector(".vimgs").classList.toggle("fit", fitting);
    };
    viewer.hidden = false;
    el("v-close").onclick = closeViewer;
    el("v-prev").onclick = function () { step(-1); };
    el("v-next").onclick = function () { step(1); };
  }
  function closeViewer() { viewer.hidden = true; viewer.innerHTML = ""; current = -1; }
  function step(by) {
    var pos = state.order.indexOf(current) + by;
    if (pos >= 0 && pos < state.order.length) openViewer(state.order[pos]);
  }
  document.addEventListener("keydown", function (e) {
    if (viewer.hidden) return;
    if (e.key === "Escape") closeViewer();
    else if (e.key === "ArrowLeft") step(-1);
    else if (e.key === "ArrowRight") step(1);
  });

  // ------------------------------------------------------------------------------- events
  el("ds").innerHTML = D.datasets.map(function (d, i) {
    return "<option value='" + i + "'>" + esc(d.name) + " (" + d.images.length + ")</option>";
  }).join("");
  el("ds").onchange = function () { setDataset(+this.value); };
  el("name-filter").oninput = function () { state.filter = this.value; state.page = 0; sortRows(); render(); };
  el("prev-page").onclick = function () { state.page--; render(); };
  el("next-page").onclick = function () { state.page++; render(); };
  el("browser").addEventListener("change", function (e) {
    var t = e.target;
    if (t.classList.contains("mf")) { state.methods[+t.dataset.i] = t.checked; render(); }
    if (t.classList.contains("xf")) { state.metrics[t.dataset.m] = t.checked; render(); }
  });
  el("images").addEventListener("click", function (e) {
    var h = e.target.closest("th.sortable");
    if (h) {
      var key = h.dataset.sort;
      if (state.sort === key) state.dir = -state.dir;
      else {
        state.sort = key;
        var p = key.split(":");
        state.dir = key === "name" ? 1 : worstFirst(p[2], p[0] === "x");
      }
      state.page = 0;
      sortRows();
      render();
      return;
    }
    var row = e.target.closest("tr.row");
    if (row) openViewer(+row.dataset.i);
  });
  setDataset(0);
})();
