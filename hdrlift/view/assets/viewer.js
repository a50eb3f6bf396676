// hdrlift view: exposure, before/after wipe, false colour and histogram on the linear HDR values.
// No dependencies, no network: the data are in the page (half floats, zlib, base64).
"use strict";
(function () {
  const DATA = JSON.parse(document.getElementById("hdrlift-data").textContent);
  const $ = (id) => document.getElementById(id);
  const state = { item: 0, ev: 0, wipe: 0.5, tone: "clip", falseColour: false };
  let frame = 0;

  // half float -> float32, for every bit pattern
  const HALF = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const s = h & 0x8000 ? -1 : 1, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    HALF[h] = e === 0 ? s * m * 2 ** -24 : e === 31 ? (m ? NaN : s * Infinity) : s * (1 + m / 1024) * 2 ** (e - 15);
  }
  // linear [0, 1] -> 8-bit sRGB code (IEC 61966-2-1); 16384 steps keep the darkest codes exact
  const NL = 16384;
  const SRGB = new Uint8ClampedArray(NL + 1);
  for (let i = 0; i <= NL; i++) {
    const x = i / NL;
    SRGB[i] = Math.round(255 * (x <= 0.0031308 ? 12.92 * x : 1.055 * x ** (1 / 2.4) - 0.055));
  }
  // 8-bit sRGB code -> linear
  const DECODE = new Float32Array(256);
  for (let i = 0; i < 256; i++) {
    const x = i / 255;
    DECODE[i] = x <= 0.04045 ? x / 12.92 : ((x + 0.055) / 1.055) ** 2.4;
  }
  const CLIP_CODE = 254;
  const BANDS = [[255, 230, 0], [255, 140, 0], [230, 30, 30], [200, 0, 255]];
  const HIST = { lo: -12, hi: 6, step: 0.25 };

  async function inflate(b64) {
    if (typeof DecompressionStream === "undefined") {
      throw new Error("this browser cannot unpack the page's data (DecompressionStream: Chrome/Edge 80+, " +
        "Firefox 113+, Safari 16.4+)");
    }
    const bin = atob(b64);
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const stream = new Blob([bytes]).stream().pipeThrough(new DecompressionStream("deflate"));
    return new Response(stream).arrayBuffer();
  }

  function histogram(lin, n) {
    const nb = Math.round((HIST.hi - HIST.lo) / HIST.step);
    const h = new Float64Array(nb);
    for (let p = 0, q = 0; p < n; p++, q += 3) {
      const y = 0.2126 * lin[q] + 0.7152 * lin[q + 1] + 0.0722 * lin[q + 2];
      let b = y > 0 ? Math.floor((Math.log2(y) - HIST.lo) / HIST.step) : 0;
      b = b < 0 ? 0 : b >= nb ? nb - 1 : b;
      h[b] += 1;
    }
    return h;
  }

  async function load(it) {
    if (it._hdr) return;
    const n = it.width * it.height;
    const u16 = new Uint16Array(await inflate(it.hdr));
    if (u16.length !== 3 * n) throw new Error(`${it.name}: embedded data has ${u16.length} values, expected ${3 * n}`);
    const hdr = new Float32Array(3 * n);
    const maxc = new Float32Array(n);
    for (let p = 0, q = 0; p < n; p++, q += 3) {
      const r = HALF[u16[q]], g = HALF[u16[q + 1]], b = HALF[u16[q + 2]];
      hdr[q] = r; hdr[q + 1] = g; hdr[q + 2] = b;
      maxc[p] = r > g ? (r > b ? r : b) : (g > b ? g : b);
    }
    it._hdr = hdr; it._maxc = maxc; it._hist = histogram(hdr, n);
    if (it.photo) {
      const u8 = new Uint8Array(await inflate(it.photo));
      const lin = new Float32Array(3 * n);
      const clipped = new Uint8Array(n);
      for (let p = 0, q = 0; p < n; p++, q += 3) {
        lin[q] = DECODE[u8[q]]; lin[q + 1] = DECODE[u8[q + 1]]; lin[q + 2] = DECODE[u8[q + 2]];
        clipped[p] = u8[q] >= CLIP_CODE || u8[q + 1] >= CLIP_CODE || u8[q + 2] >= CLIP_CODE ? 1 : 0;
      }
      it._photo = lin; it._clipped = clipped; it._photoHist = histogram(lin, n);
    }
    // 99.9th percentile of the brightest channel: the roll-off's white point (as hdrlift's preview)
    const sorted = Float32Array.from(maxc).sort();
    it._p999 = sorted[Math.min(n - 1, Math.floor(0.999 * (n - 1)))];
  }

  function drop(it) {
    for (const k of ["_hdr", "_maxc", "_hist", "_photo", "_clipped", "_photoHist"]) delete it[k];
  }

  // identity below the knee, extended Reinhard above it (white -> 1): hdrlift.io.preview.shoulder
  function shoulder(x, white) {
    const knee = 0.8;
    if (x <= knee) return x;
    const t = (x - knee) / (1 - knee), tw = (Math.max(white, knee + 1e-6) - knee) / (1 - knee);
    return knee + (1 - knee) * (t * (1 + t / (tw * tw)) / (1 + t));
  }

  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  let image = null;

  function render() {
    const it = DATA.items[state.item];
    if (!it._hdr) return;
    const W = it.width, H = it.height;
    if (!image || image.width !== W || image.height !== H) {
      canvas.width = W; canvas.height = H;
      image = ctx.createImageData(W, H);
    }
    const d = image.data;
    const s = 2 ** state.ev;
    const hdr = it._hdr, photo = it._photo || null, maxc = it._maxc, clipped = it._clipped;
    const wx = photo ? Math.round(state.wipe * W) : 0;
    const roll = state.tone === "rolloff";
    const white = Math.max(1, it._p999 * s);
    const fc = state.falseColour;
    const enc = (v) => {
      if (roll) v = shoulder(v, white);
      return v >= 1 ? SRGB[NL] : v > 0 ? SRGB[(v * NL + 0.5) | 0] : SRGB[0];
    };
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        const p = y * W + x, q = 3 * p, o = 4 * p;
        const left = x < wx;
        const src = left ? photo : hdr;
        const r = src[q] * s, g = src[q + 1] * s, b = src[q + 2] * s;
        if (fc) {
          const above = left ? clipped[p] === 1 : maxc[p] > 1;
          if (above) {
            let c;
            if (left) c = [0, 200, 255];
            else {
              const band = Math.floor(Math.log2(maxc[p]));
              c = BANDS[band < 0 ? 0 : band > 3 ? 3 : band];
            }
            d[o] = c[0]; d[o + 1] = c[1]; d[o + 2] = c[2]; d[o + 3] = 255;
            continue;
          }
          const grey = enc(0.6 * (0.2126 * r + 0.7152 * g + 0.0722 * b));
          d[o] = grey; d[o + 1] = grey; d[o + 2] = grey; d[o + 3] = 255;
          continue;
        }
        d[o] = enc(r); d[o + 1] = enc(g); d[o + 2] = enc(b); d[o + 3] = 255;
      }
    }
    if (photo && wx > 0 && wx < W) {  // the wipe line
      for (let y = 0; y < H; y++) {
        const o = 4 * (y * W + wx);
        d[o] = 255; d[o + 1] = 255; d[o + 2] = 255;
      }
    }
    ctx.putImageData(image, 0, 0);
    drawHistogram(it);
    $("exposure-value").textContent = `${state.ev >= 0 ? "+" : "\u2212"}${Math.abs(state.ev).toFixed(1)} stops`;
    $("legend").hidden = !fc;
    $("tag-photo").hidden = !photo || wx <= 0;
    $("tag-result").hidden = photo && wx >= W;
    frame += 1;
    document.documentElement.dataset.hdrliftFrame = String(frame);
    document.documentElement.dataset.hdrliftEv = state.ev.toFixed(2);
    document.documentElement.dataset.hdrliftWipe = state.wipe.toFixed(3);
  }

  function drawHistogram(it) {
    const c = $("histogram"), g = c.getContext("2d");
    const W = c.width, H = c.height, padL = 8, padB = 18, pw = W - 2 * padL, ph = H - padB - 6;
    g.clearRect(0, 0, W, H);
    const sx = (stops) => padL + ((stops - HIST.lo) / (HIST.hi - HIST.lo)) * pw;
    let top = 1;
    for (const h of [it._hist, it._photoHist]) if (h) for (const v of h) top = Math.max(top, Math.sqrt(v));
    const sy = (v) => 6 + ph - (Math.sqrt(v) / top) * ph;
    const bw = (HIST.step / (HIST.hi - HIST.lo)) * pw;
    g.fillStyle = "rgba(255,176,0,0.75)";
    it._hist.forEach((v, i) => { if (v > 0) g.fillRect(sx(HIST.lo + i * HIST.step), sy(v), Math.max(1, bw - 1), 6 + ph - sy(v)); });
    if (it._photoHist) {
      g.strokeStyle = "#6cb6ff"; g.lineWidth = 1.5; g.beginPath();
      it._photoHist.forEach((v, i) => {
        const x = sx(HIST.lo + (i + 0.5) * HIST.step), y = sy(v);
        if (i === 0) g.moveTo(x, y); else g.lineTo(x, y);
      });
      g.stroke();
    }
    g.fillStyle = "#9a9a9a"; g.font = "11px sans-serif"; g.textAlign = "center";
    for (let st = HIST.lo; st <= HIST.hi; st += 2) {
      g.fillRect(sx(st), 6 + ph, 1, 4);
      g.fillText(st > 0 ? `+${st}` : String(st), sx(st), H - 3);
    }
    g.fillStyle = "#ffffff"; g.fillRect(sx(0), 6, 1, ph);  // clipping level
    g.fillText("clip", sx(0) + 12, 16);
    const w = -state.ev;  // file value shown as white at this exposure
    if (w >= HIST.lo && w <= HIST.hi) { g.fillStyle = "#3ddc84"; g.fillRect(sx(w) - 1, 6, 2, ph); }
  }

  const fmt = (v, unit) => (v === null || v === undefined ? "n/a" : `${v.toFixed(2)}${unit}`);
  const sfmt = (v) => (v === null || v === undefined ? "n/a" : `${v >= 0 ? "+" : "\u2212"}${Math.abs(v).toFixed(2)} stops`);

  function showFigures(it) {
    const f = it.figures;
    const rows = [
      ["result", it.result], ["photo", it.photo_path || "none given (no wipe)"],
      ["size", `${it.orig_width}\u00d7${it.orig_height}` + (it.orig_width !== it.width ? ` (shown at ${it.width}\u00d7${it.height})` : "")],
      ["above the clipping level", fmt(f.above_clip_pct, " % of pixels")],
      ["clipped in the photo", fmt(f.photo_clipped_pct, " % of pixels")],
      ["result in the clipped pixels", sfmt(f.clipped_gain_stops) + " (mean, brightest channel)"],
      ["peak / 99.9th percentile", `${sfmt(f.peak_stops)} / ${sfmt(f.p999_stops)}`],
      ["median luminance", sfmt(f.median_stops)],
    ];
    const t = $("figures");
    t.textContent = "";
    for (const [k, v] of rows) {
      const tr = t.insertRow();
      tr.insertCell().textContent = k;
      tr.insertCell().textContent = v;
    }
    $("wipe-label").hidden = !it.photo;
    const u = $("uhdr");
    u.hidden = !it.uhdr;
    if (it.uhdr) {
      $("uhdr-img").src = it.uhdr;
      const hdrScreen = window.matchMedia && window.matchMedia("(dynamic-range: high)").matches;
      $("hdr-screen").textContent = hdrScreen ? "This screen reports HDR." : "This screen does not report HDR.";
    }
  }

  async function select(i) {
    const status = $("status");
    status.textContent = "loading\u2026"; status.className = "status";
    const prev = DATA.items[state.item];
    state.item = i;
    const it = DATA.items[i];
    try {
      await load(it);
    } catch (e) {
      status.textContent = `cannot show ${it.name}: ${e.message}`; status.className = "status error";
      throw e;
    }
    if (prev !== it) drop(prev);
    showFigures(it);
    render();
    status.textContent = "";
    document.querySelectorAll("#report-table tbody tr").forEach((tr, k) => tr.classList.toggle("current", k === i));
  }

  function buildReport() {
    $("report").hidden = false;
    const tb = document.querySelector("#report-table tbody");
    DATA.items.forEach((it, i) => {
      const tr = tb.insertRow();
      const f = it.figures;
      const img = (src) => { const c = tr.insertCell(); if (src) { const im = new Image(); im.src = src; im.alt = it.name; c.appendChild(im); } else c.textContent = "no photo"; };
      img(it.thumbs.photo); img(it.thumbs.result);
      for (const v of [it.name, `${it.orig_width}\u00d7${it.orig_height}`, fmt(f.above_clip_pct, " %"),
        fmt(f.photo_clipped_pct, " %"), sfmt(f.clipped_gain_stops), sfmt(f.peak_stops)]) tr.insertCell().textContent = v;
      const b = document.createElement("button");
      b.type = "button"; b.textContent = "view";
      tr.insertCell().appendChild(b);
      tr.addEventListener("click", () => { select(i); $("viewer").scrollIntoView(); });
    });
  }

  function probe(ev) {
    const it = DATA.items[state.item];
    if (!it._hdr) return;
    const r = canvas.getBoundingClientRect();
    const x = Math.floor(((ev.clientX - r.left) / r.width) * it.width), y = Math.floor(((ev.clientY - r.top) / r.height) * it.height);
    if (x < 0 || y < 0 || x >= it.width || y >= it.height) return;
    const q = 3 * (y * it.width + x);
    const v = (a) => `${a[q].toFixed(3)} ${a[q + 1].toFixed(3)} ${a[q + 2].toFixed(3)}`;
    const m = it._maxc[y * it.width + x];
    let t = `(${x}, ${y})  result ${v(it._hdr)}  brightest ${m > 0 ? sfmt(Math.log2(m)) : "black"}`;
    if (it._photo) t += `  |  photo ${v(it._photo)}${it._clipped[y * it.width + x] ? " (clipped)" : ""}`;
    $("probe").textContent = t;
  }

  // controls
  const exposure = $("exposure"), wipe = $("wipe");
  exposure.addEventListener("input", () => { state.ev = Number(exposure.value); render(); });
  $("exposure-reset").addEventListener("click", () => { exposure.value = "0"; state.ev = 0; render(); });
  wipe.addEventListener("input", () => { state.wipe = Number(wipe.value); render(); });
  $("tone").addEventListener("change", (e) => { state.tone = e.target.value; render(); });
  $("falsecolour").addEventListener("change", (e) => { state.falseColour = e.target.checked; render(); });
  let dragging = false;
  const wipeTo = (ev) => {
    const r = canvas.getBoundingClientRect();
    state.wipe = Math.min(1, Math.max(0, (ev.clientX - r.left) / r.width));
    wipe.value = String(state.wipe);
    render();
  };
  canvas.addEventListener("pointerdown", (ev) => { dragging = true; canvas.setPointerCapture(ev.pointerId); wipeTo(ev); });
  canvas.addEventListener("pointermove", (ev) => { if (dragging) wipeTo(ev); probe(ev); });
  canvas.addEventListener("pointerup", () => { dragging = false; });

  // initial state from the address: #ev=-2&wipe=0.3&tone=rolloff&fc=1&item=0
  const hp = new URLSearchParams(location.hash.slice(1));
  if (hp.has("ev")) state.ev = Math.max(-8, Math.min(8, Number(hp.get("ev")) || 0));
  if (hp.has("wipe")) state.wipe = Math.max(0, Math.min(1, Number(hp.get("wipe"))));
  if (hp.get("tone") === "rolloff") state.tone = "rolloff";
  if (hp.get("fc") === "1") state.falseColour = true;
  const first = Math.max(0, Math.min(DATA.items.length - 1, Number(hp.get("item")) || 0));
  exposure.value = String(state.ev); wipe.value = String(state.wipe);
  $("tone").value = state.tone; $("falsecolour").checked = state.falseColour;
  if (!DATA.items.some((it) => it.photo)) $("wipe-label").hidden = true;
  if (DATA.report) buildReport();
  state.item = first;
  select(first).then(() => { document.documentElement.dataset.hdrliftReady = "1"; },
    (e) => { document.documentElement.dataset.hdrliftReady = "error"; console.error(e); });
})();
