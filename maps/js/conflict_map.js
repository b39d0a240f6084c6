/* fiveplans conflict map: compact layers drawn on Canvas (MIT, part of fiveplans).
 *
 * The page carries one JSON payload (see fiveplans/maps/interactive.py): per layer the features'
 * rings and vertices as delta-encoded integers (Web Mercator, 0.1 m quantum) in a base64url
 * varint string, a style index per feature, and the attributes as shared property tables
 * (categorical columns: a dictionary plus one index per feature). Each polygon/line layer is one
 * L.Canvas renderer that draws its features itself, batched by style, with a grid index for
 * clicks and hovers. Every text shown comes from the data through textContent, never innerHTML.
 */
(function (global) {
  'use strict';
  var L = global.L;
  var ALPHA = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
  var LUT = new Int8Array(128);
  for (var i = 0; i < ALPHA.length; i++) LUT[ALPHA.charCodeAt(i)] = i;
  var R = 6378137, K = 0.5 / (Math.PI * R);
  var MU = 10000 / 15; // m² per 亩

  function varints(str) {
    // zig-zag varints, 5 bits per character; values below 2^30 take the fast (bitwise) path
    var out = new Float64Array(str.length), k = 0, i = 0, n = str.length;
    while (i < n) {
      var result = 0, shift = 0, b;
      do {
        b = LUT[str.charCodeAt(i++)];
        if (shift < 25) result |= (b & 31) << shift;
        else result += (b & 31) * Math.pow(2, shift);
        shift += 5;
      } while (b >= 32);
      out[k++] = shift <= 30 ? ((result >>> 1) ^ -(result & 1)) : (result % 2 ? -(result + 1) / 2 : result / 2);
    }
    return out.subarray(0, k);
  }

  function el(tag, cls, text, parent) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (parent) parent.appendChild(e);
    return e;
  }

  function esc(s) {
    return String(s).replace(/[&<>"']/g, function (c) {
      return {'&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;'}[c];
    });
  }

  function fmt(x, digits) {
    return Number(x).toLocaleString('zh-CN', {maximumFractionDigits: digits, minimumFractionDigits: digits});
  }

  /* -- a layer's data -------------------------------------------------------------------- */
  function Data(spec, q) {
    this.spec = spec;
    this.n = spec.n;
    var rpf = varints(spec.rings), vpr = varints(spec.verts), xy = varints(spec.xy);
    var n = this.n, nr = vpr.length, nv = xy.length / 2;
    this.ringStart = new Uint32Array(n + 1);
    for (var f = 0; f < n; f++) this.ringStart[f + 1] = this.ringStart[f] + rpf[f];
    this.vertStart = new Uint32Array(nr + 1);
    for (var r = 0; r < nr; r++) this.vertStart[r + 1] = this.vertStart[r] + vpr[r];
    var X = this.X = new Float64Array(nv), Y = this.Y = new Float64Array(nv);
    var x = 0, y = 0;
    for (var v = 0; v < nv; v++) {
      x += xy[2 * v]; y += xy[2 * v + 1];
      X[v] = x * q; Y[v] = y * q;
    }
    var b = this.bbox = new Float64Array(4 * n);
    for (f = 0; f < n; f++) {
      var x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      var v0 = this.vertStart[this.ringStart[f]], v1 = this.vertStart[this.ringStart[f + 1]];
      for (v = v0; v < v1; v++) {
        if (X[v] < x0) x0 = X[v];
        if (X[v] > x1) x1 = X[v];
        if (Y[v] < y0) y0 = Y[v];
        if (Y[v] > y1) y1 = Y[v];
      }
      b[4 * f] = x0; b[4 * f + 1] = y0; b[4 * f + 2] = x1; b[4 * f + 3] = y1;
    }
    var size = 0;
    for (f = 0; f < n; f++) size += Math.max(b[4 * f + 2] - b[4 * f], b[4 * f + 3] - b[4 * f + 1]);
    this.meanSize = n ? size / n : 0;
    var st = spec.style;
    this.style = typeof st === 'number' ? null : varints(st);
    this.byStyle = [];
    for (var s = 0; s < spec.styles.length; s++) this.byStyle.push([]);
    for (f = 0; f < n; f++) this.byStyle[this.style ? this.style[f] : (st || 0)].push(f);
    this.cols = spec.cols.map(function (c) {
      var o = {key: c.key, label: c.label, kind: c.kind, prefix: c.prefix || ''};
      if (c.dict) {
        o.dict = c.dict;
        if (typeof c.idx === 'number') o.constIdx = c.idx; else o.idx = varints(c.idx);
      } else {
        o.values = c.values;
      }
      return o;
    });
    this.colIndex = {};
    for (var c = 0; c < this.cols.length; c++) this.colIndex[this.cols[c].key] = c;
  }
  Data.prototype.value = function (f, key) {
    var c = this.cols[this.colIndex[key]];
    if (!c) return null;
    if (c.dict) { var k = c.idx ? c.idx[f] : c.constIdx; return k < 0 ? null : c.dict[k]; }
    var v = c.values[f];
    return v === null || v === undefined ? null : (c.prefix ? c.prefix + v : v);
  };
  Data.prototype.grid = function () {
    if (this._grid) return this._grid;
    var n = this.n, b = this.bbox, x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (var f = 0; f < n; f++) {
      x0 = Math.min(x0, b[4 * f]); y0 = Math.min(y0, b[4 * f + 1]);
      x1 = Math.max(x1, b[4 * f + 2]); y1 = Math.max(y1, b[4 * f + 3]);
    }
    var side = Math.max(1, Math.ceil(Math.sqrt(n / 2)));
    var cw = Math.max((x1 - x0) / side, 1e-6), ch = Math.max((y1 - y0) / side, 1e-6);
    var cells = new Array(side * side), big = [];
    for (f = 0; f < n; f++) {
      var i0 = Math.floor((b[4 * f] - x0) / cw), i1 = Math.min(side - 1, Math.floor((b[4 * f + 2] - x0) / cw));
      var j0 = Math.floor((b[4 * f + 1] - y0) / ch), j1 = Math.min(side - 1, Math.floor((b[4 * f + 3] - y0) / ch));
      if ((i1 - i0 + 1) * (j1 - j0 + 1) > 64) { big.push(f); continue; }
      for (var i = i0; i <= i1; i++) for (var j = j0; j <= j1; j++) {
        var k = j * side + i;
        (cells[k] || (cells[k] = [])).push(f);
      }
    }
    this._grid = {x0: x0, y0: y0, cw: cw, ch: ch, side: side, cells: cells, big: big};
    return this._grid;
  };
  Data.prototype.hits = function (mx, my, tol, max) {
    var g = this.grid(), out = [];
    var i = Math.floor((mx - g.x0) / g.cw), j = Math.floor((my - g.y0) / g.ch);
    var cand = g.big;
    if (i >= 0 && j >= 0 && i < g.side && j < g.side) cand = (g.cells[j * g.side + i] || []).concat(g.big);
    var b = this.bbox, lines = this.spec.kind === 'line';
    for (var c = cand.length - 1; c >= 0 && out.length < max; c--) {
      var f = cand[c];
      if (mx < b[4 * f] - tol || mx > b[4 * f + 2] + tol || my < b[4 * f + 1] - tol || my > b[4 * f + 3] + tol) continue;
      var small = (b[4 * f + 2] - b[4 * f]) < 2 * tol && (b[4 * f + 3] - b[4 * f + 1]) < 2 * tol;
      if (small || (lines ? this._nearLine(f, mx, my, tol) : this._inside(f, mx, my))) out.push(f);
    }
    return out;
  };
  Data.prototype._inside = function (f, mx, my) {
    var X = this.X, Y = this.Y, inside = false;
    for (var r = this.ringStart[f]; r < this.ringStart[f + 1]; r++) {
      var v0 = this.vertStart[r], v1 = this.vertStart[r + 1];
      for (var v = v0, w = v1 - 1; v < v1; w = v++) {
        if ((Y[v] > my) !== (Y[w] > my) && mx < (X[w] - X[v]) * (my - Y[v]) / (Y[w] - Y[v]) + X[v]) inside = !inside;
      }
    }
    return inside;
  };
  Data.prototype._nearLine = function (f, mx, my, tol) {
    var X = this.X, Y = this.Y;
    for (var r = this.ringStart[f]; r < this.ringStart[f + 1]; r++) {
      for (var v = this.vertStart[r]; v < this.vertStart[r + 1] - 1; v++) {
        var dx = X[v + 1] - X[v], dy = Y[v + 1] - Y[v], l2 = dx * dx + dy * dy;
        var t = l2 ? Math.max(0, Math.min(1, ((mx - X[v]) * dx + (my - Y[v]) * dy) / l2)) : 0;
        var ex = X[v] + t * dx - mx, ey = Y[v] + t * dy - my;
        if (ex * ex + ey * ey <= tol * tol) return true;
      }
    }
    return false;
  };

  /* -- the Canvas layer ---------------------------------------------------------------- */
  var hatches = {};
  function hatch(ctx, colour) {
    if (hatches[colour]) return hatches[colour];
    var c = document.createElement('canvas');
    c.width = c.height = 8;
    var g = c.getContext('2d');
    g.strokeStyle = colour; g.lineWidth = 1.5;
    g.beginPath(); g.moveTo(0, 8); g.lineTo(8, 0); g.moveTo(-2, 2); g.lineTo(2, -2); g.moveTo(6, 10); g.lineTo(10, 6); g.stroke();
    return (hatches[colour] = ctx.createPattern(c, 'repeat'));
  }

  var FPLayer = L.Canvas.extend({
    initialize: function (spec, q, options) {
      L.Canvas.prototype.initialize.call(this, L.extend({padding: 0.1}, options));
      this.spec = spec; this.q = q; this.drawn = 0; this.data = null;
    },
    getData: function () {
      if (!this.data) this.data = new Data(this.spec, this.q);
      return this.data;
    },
    _initContainer: function () {
      // A plain canvas: clicks and hovers go to the map, which asks every layer's grid index.
      var container = this._container = document.createElement('canvas');
      container.style.pointerEvents = 'none';
      this._ctx = container.getContext('2d');
    },
    getContainer: function () { return this._container; },
    onAdd: function () {
      this.getData();
      L.Canvas.prototype.onAdd.call(this);
    },
    _draw: function () {
      var d = this.getData(), ctx = this._ctx, map = this._map, spec = this.spec;
      if (!map) return;
      var scale = 256 * Math.pow(2, map.getZoom()), origin = map.getPixelOrigin();
      var a = K * scale, bx = 0.5 * scale - origin.x, by = 0.5 * scale - origin.y;
      var pb = this._bounds;
      var vx0 = (pb.min.x - bx) / a, vx1 = (pb.max.x - bx) / a, vy0 = (by - pb.max.y) / a, vy1 = (by - pb.min.y) / a;
      var X = d.X, Y = d.Y, b = d.bbox, drawn = 0, line = spec.kind === 'line';
      var minPx = 0.7 / a; // skip vertices closer than 0.7 px to the last one drawn
      // Paths are flushed every ~2000 vertices: one huge path is far slower to fill than many
      // small ones (software rasterisers sort all its edges together).
      var flush = function (st) {
        if (!line && st.fill) {
          ctx.globalAlpha = st.fo;
          ctx.fillStyle = st.hatch ? hatch(ctx, st.fill) : st.fill;
          ctx.fill('nonzero');
        }
        if (st.stroke && st.sw > 0 && (st.sw >= 1 || fine)) {
          ctx.globalAlpha = st.so === undefined ? 1 : st.so;
          ctx.strokeStyle = st.stroke; ctx.lineWidth = st.sw;
          ctx.setLineDash(st.dash ? st.dash : []);
          ctx.stroke();
        }
        ctx.beginPath();
      };
      ctx.lineJoin = 'miter'; ctx.lineCap = 'butt';
      // hairline outlines (under 1 px) of features averaging under 5 px would only grey the fills
      var fine = d.meanSize * a >= 5;
      for (var s = 0; s < d.byStyle.length; s++) {
        var st = spec.styles[s], feats = d.byStyle[s], tiny = [], pending = 0;
        if (!feats.length) continue;
        ctx.beginPath();
        for (var k = 0; k < feats.length; k++) {
          var f = feats[k];
          if (b[4 * f + 2] < vx0 || b[4 * f] > vx1 || b[4 * f + 3] < vy0 || b[4 * f + 1] > vy1) continue;
          drawn++;
          if ((b[4 * f + 2] - b[4 * f]) * a < 2 && (b[4 * f + 3] - b[4 * f + 1]) * a < 2) { tiny.push(f); continue; }
          for (var r = d.ringStart[f]; r < d.ringStart[f + 1]; r++) {
            var v0 = d.vertStart[r], v1 = d.vertStart[r + 1];
            var lx = X[v0], ly = Y[v0];
            ctx.moveTo(lx * a + bx, by - ly * a);
            for (var v = v0 + 1; v < v1; v++) {
              if (v < v1 - 1 && Math.abs(X[v] - lx) < minPx && Math.abs(Y[v] - ly) < minPx) continue;
              lx = X[v]; ly = Y[v];
              ctx.lineTo(lx * a + bx, by - ly * a);
              pending++;
            }
            if (!line) ctx.closePath();
          }
          if (pending > 2000) { flush(st); pending = 0; }
        }
        flush(st);
        ctx.setLineDash([]);
        if (tiny.length) { // features under 2 px still show: a 3 px square in the outline colour
          ctx.globalAlpha = 1;
          ctx.fillStyle = st.stroke || st.fill;
          for (k = 0; k < tiny.length; k++) {
            f = tiny[k];
            var cx = (b[4 * f] + b[4 * f + 2]) / 2 * a + bx, cy = by - (b[4 * f + 1] + b[4 * f + 3]) / 2 * a;
            ctx.fillRect(cx - 1.5, cy - 1.5, 3, 3);
          }
        }
      }
      ctx.globalAlpha = 1;
      this.drawn = drawn;
      this.fire('drawn', {count: drawn});
    }
  });

  /* -- popups, tooltips, search ------------------------------------------------------------ */
  function cell(tr, label, value) {
    el('th', null, label, tr);
    el('td', null, value, tr);
  }
  function describe(layer, f, box) {
    var d = layer.getData(), spec = layer.spec;
    el('div', 'fp-pop-title', spec.label, box);
    var table = el('table', 'fp-pop', null, box);
    for (var c = 0; c < d.cols.length; c++) {
      var col = d.cols[c], v = d.value(f, col.key);
      if (v === null || v === undefined || v === '') continue;
      var tr = el('tr', null, null, table);
      if (col.kind === 'area') {
        cell(tr, col.label, fmt(v, 0) + ' m² · ' + fmt(v / 1e4, 2) + ' 公顷 ha · ' + fmt(v / MU, 2) + ' 亩 mu');
      } else if (col.kind === 'num') {
        cell(tr, col.label, fmt(v, 1));
      } else {
        cell(tr, col.label, v);
      }
    }
  }
  function tipText(layer, f) {
    var d = layer.getData(), keys = layer.spec.tip || [], parts = [];
    for (var i = 0; i < keys.length; i++) {
      var v = d.value(f, keys[i]);
      if (v !== null && v !== undefined && v !== '') parts.push(String(v));
    }
    return parts.join(' · ') || layer.spec.label;
  }

  function build(map, P) {
    var now = function () { return global.performance ? global.performance.now() : 0; };
    var q = P.q, layers = {}, order = [], overlays = {}, fp = {layers: layers, map: map, payload: P, timings: {start: now()}};
    global.fiveplans = global.fiveplans || {};
    global.fiveplans[map._container.id] = fp;
    global.fiveplansMap = fp;
    if (map.options.maxZoom === undefined) map.options.maxZoom = 20; // marker clusters need one
    map.fitBounds(P.bounds, {animate: false});  // the final view first: each layer draws once
    var panes = P.panes;
    for (var p in panes) {
      var pane = map.createPane(p);
      pane.style.zIndex = panes[p];
    }
    map.getPane('fp-base').style.pointerEvents = 'none';

    // base maps
    var bases = {};
    var none = L.layerGroup();
    bases[esc(P.labels.no_basemap)] = none;
    var tile = null;
    if (P.tiles) {
      tile = L.layerGroup(P.tiles.map(function (t) {
        return L.tileLayer(t.url, {attribution: t.attribution, subdomains: t.subdomains, maxZoom: 18});
      }));
      bases[esc(P.tiles_label)] = tile;
      tile.addTo(map);
    } else {
      none.addTo(map);
    }

    P.layers.forEach(function (spec) {
      var layer;
      if (spec.kind === 'point') {
        layer = pointLayer(spec, q);
      } else {
        layer = new FPLayer(spec, q, {pane: spec.pane, interactive: spec.interactive !== false});
      }
      layers[spec.id] = layer;
      order.push(spec.id);
      var name = '<span class="fp-swatch" style="background:' + esc(spec.swatch || '#999') + '"></span>' + esc(spec.label);
      overlays[name] = layer;
      if (spec.show) layer.addTo(map);
    });
    fp.timings.layers = now();
    L.control.layers(bases, overlays, {collapsed: P.collapsed_layers, position: 'topright'}).addTo(map);
    L.control.scale({imperial: false, metric: true}).addTo(map);
    if (L.Control.FullScreen) {
      map.addControl(new L.Control.FullScreen({position: 'topleft', title: P.labels.fullscreen, titleCancel: P.labels.fullscreen_exit}));
    }
    if (L.control.polylineMeasure) {
      L.control.polylineMeasure({position: 'topleft', unit: 'kilometres', showBearings: false, clearMeasurementsOnStop: false,
        showClearControl: true, measureControlTitleOn: P.labels.measure_on, measureControlTitleOff: P.labels.measure_off,
        clearControlTitle: P.labels.measure_clear}).addTo(map);
    }
    legend(map, P);
    title(map, P);
    interaction(map, P, fp, order);
    fp.timings.controls = now();
    search(map, P, fp);
    fp.timings.search = now();
    swipe(map, P, fp);
    if (P.swipe_start && fp.swipe) fp.swipe.start(P.swipe_start[0], P.swipe_start[1]);
    fp.ready = true;
    fp.timings.built = now();
    var done = function () { fp.rendered = true; fp.renderedAt = global.performance ? global.performance.now() : 0; map._container.setAttribute('data-fp-ready', '1'); };
    global.requestAnimationFrame ? global.requestAnimationFrame(function () { fp.timings.frame = now(); setTimeout(done, 0); }) : done();
    return fp;
  }

  function pointLayer(spec, q) {
    var d = new Data(spec, q), group = spec.cluster && L.markerClusterGroup
      ? L.markerClusterGroup({showCoverageOnHover: false, maxClusterRadius: 40, chunkedLoading: true})
      : L.featureGroup();
    var st = spec.styles;
    for (var f = 0; f < d.n; f++) {
      var v = d.vertStart[d.ringStart[f]];
      var ll = L.CRS.EPSG3857.unproject(L.point(d.X[v], d.Y[v]));
      var s = st[d.style ? d.style[f] : (spec.style || 0)];
      var m = L.circleMarker(ll, {pane: spec.pane, radius: s.radius || 5, color: s.stroke, weight: s.sw, fillColor: s.fill, fillOpacity: s.fo});
      (function (f, m) {
        var tip = el('span', null, tipText({getData: function () { return d; }, spec: spec}, f));
        m.bindTooltip(tip);
        m.bindPopup(function () {
          var box = el('div', 'fp-popup');
          describe({getData: function () { return d; }, spec: spec}, f, box);
          return box;
        });
      })(f, m);
      group.addLayer(m);
    }
    group.getData = function () { return d; };
    group.spec = spec;
    group.drawn = d.n;
    return group;
  }

  function legend(map, P) {
    var ctl = L.control({position: 'bottomright'});
    ctl.onAdd = function () {
      var box = L.DomUtil.create('div', 'fp-legend leaflet-control');
      var head = el('div', 'fp-legend-head', P.labels.legend + ' ▾', box);
      var body = el('div', 'fp-legend-body', null, box);
      L.DomEvent.on(head, 'click', function () {
        var hidden = body.style.display === 'none';
        body.style.display = hidden ? '' : 'none';
        head.textContent = P.labels.legend + (hidden ? ' ▾' : ' ▸');
      });
      box = body;
      P.legend.forEach(function (sec) {
        el('div', 'fp-legend-sec', sec.title, box);
        sec.items.forEach(function (it) {
          var row = el('div', 'fp-legend-row', null, box);
          var sw = el('span', 'fp-swatch' + (it.hatch ? ' fp-hatch' : ''), null, row);
          sw.style.background = it.fill || 'transparent';
          if (it.hatch) sw.style.backgroundImage = 'repeating-linear-gradient(-45deg,' + it.fill + ' 0 2px, #fff 2px 4px)';
          sw.style.borderColor = it.stroke || it.fill || '#666';
          if (it.dash) sw.style.borderStyle = 'dashed';
          el('span', null, it.label, row);
        });
      });
      P.notes.forEach(function (t) { el('div', 'fp-legend-note', t, box); });
      box = body.parentNode;
      L.DomEvent.disableClickPropagation(box);
      L.DomEvent.disableScrollPropagation(box);
      return box;
    };
    ctl.addTo(map);
  }

  function title(map, P) {
    var ctl = L.control({position: 'topleft'});
    ctl.onAdd = function () {
      var box = L.DomUtil.create('div', 'fp-title leaflet-control');
      el('div', 'fp-title-main', P.title, box);
      el('div', 'fp-title-sub', P.subtitle, box);
      return box;
    };
    ctl.addTo(map);
  }

  function interaction(map, P, fp, order) {
    var tooltip = L.tooltip({sticky: true, direction: 'top', offset: [0, -6]});
    var pending = null, queued = false;
    function visible() {
      var out = [];
      for (var i = order.length - 1; i >= 0; i--) {
        var layer = fp.layers[order[i]];
        if (layer instanceof FPLayer && map.hasLayer(layer) && layer.spec.interactive !== false) out.push(layer);
      }
      out.sort(function (a, b) { return (P.panes[b.spec.pane] || 0) - (P.panes[a.spec.pane] || 0); });
      return out;
    }
    function at(latlng, max) {
      var m = L.CRS.EPSG3857.project(latlng), tol = 4 / (K * 256 * Math.pow(2, map.getZoom()));
      var hits = [];
      visible().forEach(function (layer) {
        var fs = layer.getData().hits(m.x, m.y, tol, max);
        fs.forEach(function (f) { hits.push({layer: layer, f: f}); });
      });
      return hits;
    }
    fp.hitsAt = at;
    fp.fitLayer = function (id) { // fit the view to a layer's data (tests, and handy in a console)
      var d = fp.layers[id].getData(), b = d.bbox, x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
      for (var f = 0; f < d.n; f++) {
        x0 = Math.min(x0, b[4 * f]); y0 = Math.min(y0, b[4 * f + 1]);
        x1 = Math.max(x1, b[4 * f + 2]); y1 = Math.max(y1, b[4 * f + 3]);
      }
      map.fitBounds(L.latLngBounds(L.CRS.EPSG3857.unproject(L.point(x0, y0)), L.CRS.EPSG3857.unproject(L.point(x1, y1))), {animate: false});
    };
    map.on('click', function (e) {
      var hits = at(e.latlng, 5);
      if (!hits.length) return;
      var box = el('div', 'fp-popup'), seen = {};
      hits.forEach(function (h) {
        var key = h.layer.spec.id;
        if (h.layer.spec.group !== 'conflicts' && seen[key]) return;
        seen[key] = true;
        describe(h.layer, h.f, box);
      });
      L.popup({maxWidth: 420, maxHeight: 360}).setLatLng(e.latlng).setContent(box).openOn(map);
    });
    map.on('mousemove', function (e) {
      pending = e.latlng;
      if (queued) return;
      queued = true;
      global.requestAnimationFrame(function () {
        var ll = pending; pending = null; queued = false;
        if (!ll) return;
        var hits = at(ll, 1);
        if (!hits.length) { map.closeTooltip(tooltip); map._container.style.cursor = ''; return; }
        tooltip.setContent(el('span', null, tipText(hits[0].layer, hits[0].f)));
        tooltip.setLatLng(ll);
        if (!map.hasLayer(tooltip)) map.openTooltip(tooltip);
        map._container.style.cursor = 'pointer';
      });
    });
    map.on('mouseout', function () { map.closeTooltip(tooltip); });
  }

  function focus(map, fp, layerId, f) {
    var layer = fp.layers[layerId], d = layer.getData(), b = d.bbox;
    if (!map.hasLayer(layer)) layer.addTo(map);
    var sw = L.CRS.EPSG3857.unproject(L.point(b[4 * f], b[4 * f + 1]));
    var ne = L.CRS.EPSG3857.unproject(L.point(b[4 * f + 2], b[4 * f + 3]));
    var bounds = L.latLngBounds(sw, ne);
    map.fitBounds(bounds, {maxZoom: 18, padding: [40, 40], animate: false});
    var box = el('div', 'fp-popup');
    describe(layer, f, box);
    L.popup({maxWidth: 420}).setLatLng(bounds.getCenter()).setContent(box).openOn(map);
  }

  function search(map, P, fp) {
    var index = {}, keys = [];
    P.search.forEach(function (s) {
      var layer = fp.layers[s.layer];
      if (!layer) return;
      var d = layer.getData();
      for (var f = 0; f < d.n; f++) {
        var v = d.value(f, s.key);
        if (v === null || v === undefined) continue;
        var k = String(v);
        if (!index[k]) { index[k] = {layer: s.layer, f: f}; keys.push(k); }
      }
    });
    P.districts.forEach(function (dist) {
      var k = P.labels.district_prefix + dist.name;
      index[k] = {bounds: dist.bounds};
      keys.push(k);
    });
    fp.find = function (text) { return index[text] || null; };
    fp.show = function (text) {
      var hit = index[text];
      if (!hit) return false;
      if (hit.bounds) map.fitBounds(hit.bounds, {animate: false});
      else focus(map, fp, hit.layer, hit.f);
      return true;
    };
    if (!L.Control.Search) return;
    var ctl = new L.Control.Search({
      position: 'topleft', initial: false, marker: false, autoType: false, tooltipLimit: 20,
      textPlaceholder: P.labels.search, textErr: P.labels.not_found, textCancel: P.labels.cancel,
      propertyName: 'title', propertyLoc: ['lat', 'lng'], minLength: 1,
      sourceData: function (text, cb) {
        var t = text.toLowerCase(), out = [];
        for (var i = 0; i < keys.length && out.length < 20; i++) {
          if (keys[i].toLowerCase().indexOf(t) >= 0) out.push({title: keys[i], lat: 0, lng: 0});
        }
        cb(out);
        return {abort: function () {}};
      },
      filterData: function (text, records) { return records; },
      buildTip: function (text) { return el('li', null, text); },
      moveToLocation: function (latlng, text) { fp.show(text); }
    });
    map.addControl(ctl);
    fp.searchControl = ctl;
  }

  function swipe(map, P, fp) {
    var plans = P.layers.filter(function (s) { return s.swipe; });
    if (plans.length < 2 || !L.Control.SideBySide) return;
    var SBS = L.Control.SideBySide.extend({
      _updateClip: function () {
        if (!this._map) return;
        var map = this._map, x = this.getPosition();
        var nw = map.containerPointToLayerPoint([0, 0]), se = map.containerPointToLayerPoint(map.getSize());
        this._divider.style.left = x + 'px';
        var clip = function (layer, left) {
          if (!layer) return;
          var c = layer.getContainer(), pos = L.DomUtil.getPosition(c) || L.point(0, 0);
          var cut = nw.x + x - pos.x;
          c.style.clip = left
            ? 'rect(' + [nw.y - pos.y, cut, se.y - pos.y, nw.x - pos.x].join('px,') + 'px)'
            : 'rect(' + [nw.y - pos.y, se.x - pos.x, se.y - pos.y, cut].join('px,') + 'px)';
        };
        clip(this._leftLayer, true);
        clip(this._rightLayer, false);
      }
    });
    var ctl = L.control({position: 'bottomleft'}), active = null;
    ctl.onAdd = function () {
      var box = L.DomUtil.create('div', 'fp-swipe leaflet-control leaflet-bar');
      el('span', null, P.labels.swipe, box);
      var left = el('select', null, null, box), right = el('select', null, null, box);
      plans.forEach(function (s, i) {
        var o1 = el('option', null, s.label, left); o1.value = s.id;
        var o2 = el('option', null, s.label, right); o2.value = s.id;
      });
      left.value = plans[0].id; right.value = plans[1].id;
      var btn = el('button', null, P.labels.swipe_on, box);
      function stop() {
        if (!active) return;
        active.sbs.remove();
        active.layers.forEach(function (l) { l.off('update', active.sbs._updateClip, active.sbs); });
        active = null;
        btn.textContent = P.labels.swipe_on;
      }
      function start() {
        stop();
        var a = fp.layers[left.value], b = fp.layers[right.value];
        if (a === b) return;
        [a, b].forEach(function (l) { if (!map.hasLayer(l)) l.addTo(map); });
        var sbs = new SBS([a], [b]).addTo(map);
        [a, b].forEach(function (l) { l.on('update', sbs._updateClip, sbs); });
        active = {sbs: sbs, layers: [a, b]};
        sbs._updateClip();
        btn.textContent = P.labels.swipe_off;
      }
      L.DomEvent.on(btn, 'click', function () { active ? stop() : start(); });
      L.DomEvent.on(left, 'change', function () { if (active) start(); });
      L.DomEvent.on(right, 'change', function () { if (active) start(); });
      L.DomEvent.disableClickPropagation(box);
      fp.swipe = {start: function (l, r) { left.value = l; right.value = r; start(); }, stop: stop,
                  active: function () { return active; }};
      return box;
    };
    ctl.addTo(map);
  }

  global.fiveplansConflictMap = build;
})(window);
