// The Sluice console's page script. Plain browser JavaScript, no build step and
// no network beyond the admin port: the control plane serves it together with
// uPlot. It long-polls /console/api/state and keeps plots and tables current.
// Data is only ever inserted as text (never as HTML).
'use strict';

(() => {
  const MAX_POINTS = 900;
  const PALETTE = ['#2563eb', '#f97316', '#16a34a', '#9333ea', '#db2777', '#0891b2', '#ca8a04'];
  const THRESHOLD = '#dc2626';

  /** host → { info, series }, `ns/name` → { info, timeline } */
  const services = new Map();
  const canaries = new Map();
  /** id → { plot, el, build } for every chart on the page. */
  const plots = new Map();
  let since = 0;
  /** The poll in flight, aborted when the operator opens or closes a service's plots. */
  let inFlight;
  let lastRateWindowMs = 10000;

  // ---- small DOM helpers -------------------------------------------------

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === 'class') node.className = value;
      else if (key === 'style') node.style.cssText = value;
      else node.setAttribute(key, String(value));
    }
    for (const child of children.flat()) {
      if (child === undefined || child === null || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  const fmt = (n, digits = 1) => (n === undefined || n === null || !Number.isFinite(n) ? '–' : n.toFixed(digits));
  const pct = (ratio) => (ratio === undefined || ratio === null ? '–' : `${(100 * ratio).toFixed(2)}%`);
  const time = (ms) => new Date(ms).toLocaleTimeString();
  const colour = (i) => PALETTE[i % PALETTE.length];

  // ---- merging incremental state ----------------------------------------

  function trimColumns(columns) {
    const excess = columns[0].length - MAX_POINTS;
    if (excess > 0) for (const c of columns) c.splice(0, excess);
  }

  function mergeServiceSeries(old, add) {
    if (!old) return add;
    const before = old.t.length;
    for (const [name, c] of Object.entries(add.versions)) {
      if (!old.versions[name]) old.versions[name] = { rps: new Array(before).fill(null), errorRatio: new Array(before).fill(null), p99Ms: new Array(before).fill(null) };
      const o = old.versions[name];
      o.rps.push(...c.rps); o.errorRatio.push(...c.errorRatio); o.p99Ms.push(...c.p99Ms);
    }
    old.t.push(...add.t);
    for (const o of Object.values(old.versions)) {
      for (const key of ['rps', 'errorRatio', 'p99Ms']) while (o[key].length < old.t.length) o[key].push(null);
    }
    trimColumns([old.t, ...Object.values(old.versions).flatMap((o) => [o.rps, o.errorRatio, o.p99Ms])]);
    return old;
  }

  function mergeTimeline(old, add) {
    if (!old) return add;
    old.t.push(...add.t); old.weight.push(...add.weight);
    trimColumns([old.t, old.weight]);
    for (const [name, m] of Object.entries(add.metrics)) {
      const o = (old.metrics[name] = old.metrics[name] || { t: [], value: [], outcome: [] });
      o.t.push(...m.t); o.value.push(...m.value); o.outcome.push(...m.outcome);
      trimColumns([o.t, o.value, o.outcome]);
    }
    old.decisions.push(...add.decisions);
    if (old.decisions.length > 500) old.decisions.splice(0, old.decisions.length - 500);
    return old;
  }

  function apply(doc) {
    if (doc.full) {
      services.clear();
      canaries.clear();
    }
    const liveServices = new Set();
    for (const info of doc.services) {
      liveServices.add(info.host);
      const previous = services.get(info.host);
      services.set(info.host, { info, series: info.series ? mergeServiceSeries(previous && previous.series, info.series) : previous && previous.series });
    }
    for (const host of [...services.keys()]) if (!liveServices.has(host)) services.delete(host);
    const liveCanaries = new Set();
    for (const info of doc.canaries) {
      const key = `${info.namespace}/${info.name}`;
      liveCanaries.add(key);
      const previous = canaries.get(key);
      canaries.set(key, { info, timeline: info.timeline ? mergeTimeline(previous && previous.timeline, info.timeline) : previous && previous.timeline });
    }
    for (const key of [...canaries.keys()]) if (!liveCanaries.has(key)) canaries.delete(key);
    since = doc.sampleAt;
    const snapshot = document.getElementById('snapshot');
    snapshot.textContent = doc.served ? `snapshot ${doc.served.slice(0, 12)}` : 'no snapshot yet';
    renderCanaries();
    lastRateWindowMs = doc.rateWindowMs;
    renderServices(doc.rateWindowMs);
    renderProxies(doc.proxies, doc.proxyCounts);
    for (const [id, entry] of plots) if (!document.body.contains(entry.el)) { entry.plot.destroy(); entry.el.remove(); plots.delete(id); }
    fitPlots();
  }

  // ---- plots --------------------------------------------------------------

  /**
   * A time plot in `container`, created once and updated in place. `series` are
   * { label, stroke, dash?, stepped?, values } over the shared `xs` (ms).
   */
  function plot(id, container, title, xs, series, yLabel) {
    let entry = plots.get(id);
    const key = series.map((s) => s.label).join('|');
    if (entry && entry.key !== key) { entry.plot.destroy(); entry.el.remove(); plots.delete(id); entry = undefined; }
    const data = [xs.map((x) => x / 1000), ...series.map((s) => s.values)];
    if (!entry) {
      const holder = el('div', { class: 'plot', 'data-plot': id }, el('div', { class: 'plot-title' }, title));
      container.append(holder);
      const width = Math.max(300, holder.clientWidth || 400);
      const options = {
        width, height: 180,
        scales: { x: { time: true } },
        axes: [{}, { label: yLabel, size: 56 }],
        series: [{}, ...series.map((s) => ({
          label: s.label, stroke: s.stroke, width: s.dash ? 1.5 : 2, dash: s.dash, spanGaps: false,
          points: { show: s.points === true, size: 6 },
          paths: s.stepped ? uPlot.paths.stepped({ align: 1 }) : undefined,
        }))],
        legend: { live: false },
      };
      entry = { key, el: holder, plot: new uPlot(options, data, holder) };
      plots.set(id, entry);
    } else {
      entry.plot.setData(data);
    }
    // How many samples the plot holds: what the browser test checks, and a hint when hovering.
    const points = series.reduce((n, s) => n + s.values.filter((v) => v !== null && v !== undefined).length, 0);
    entry.el.dataset.points = String(points);
    entry.el.title = `${points} points`;
    return entry.el;
  }

  /** Plots follow their grid cell: a cell narrows when a sibling plot arrives, or when the window does. */
  function fitPlots() {
    for (const entry of plots.values()) {
      const width = Math.max(300, entry.el.clientWidth);
      if (Math.abs(entry.plot.width - width) > 2) entry.plot.setSize({ width, height: 180 });
    }
  }

  window.addEventListener('resize', fitPlots);

  // ---- canaries -------------------------------------------------------------

  function boundText(b) {
    const parts = [];
    if (b.min !== undefined) parts.push(`≥ ${b.min}${b.unit}`);
    if (b.max !== undefined) parts.push(`≤ ${b.max}${b.unit}`);
    // `any`: the analysis sums LRS (proxyless clients) and the stats sink (sidecars).
    const source = b.source === 'any' ? 'LRS + stats sink' : b.source;
    return `${b.name} (${source}) ${parts.join(', ') || 'no bound'}`;
  }

  function canaryCard(key) {
    let card = document.querySelector(`[data-canary="${CSS.escape(key)}"]`);
    if (!card) {
      card = el('div', { class: 'card canary', 'data-canary': key },
        el('div', { class: 'summary' }), el('div', { class: 'steps' }), el('div', { class: 'plots' }), el('div', { class: 'decisions' }));
      document.getElementById('canary-list').append(card);
    }
    return card;
  }

  function renderCanaries() {
    const list = document.getElementById('canary-list');
    for (const card of [...list.querySelectorAll('[data-canary]')]) if (!canaries.has(card.dataset.canary)) card.remove();
    const empty = list.querySelector('.empty');
    if (empty) empty.hidden = canaries.size > 0;
    for (const [key, { info, timeline }] of canaries) {
      const card = canaryCard(key);
      card.dataset.phase = info.phase;
      card.dataset.weight = String(info.canaryWeight);
      card.querySelector('.summary').replaceChildren(
        el('div', { class: 'card-head' },
          el('h3', {}, key),
          el('span', { class: `badge ${info.phase}` }, info.phase),
          el('span', { class: 'sub' }, `service ${info.service}: ${info.stable} → ${info.canary}`),
          el('span', { class: 'spacer' }),
          el('span', { class: 'weight', title: 'traffic on the canary version' }, `${info.canaryWeight}%`)),
        el('div', { class: 'sub' },
          info.phase === 'Progressing' ? `step ${info.stepIndex + 1}/${info.steps.length} · ` : `${info.steps.length} steps · `,
          `failed checks ${info.failedChecks}/${info.threshold} · every ${info.interval} · `,
          info.bounds.map(boundText).join(' · ')),
        el('div', { class: 'message' }, info.message));
      const steps = card.querySelector('.steps');
      steps.replaceChildren(
        el('div', { class: 'fill', style: `width:${info.canaryWeight}%` }),
        ...info.steps.map((s) => el('div', { class: 'mark', style: `left:${s}%` }, el('span', {}, `${s}%`))));
      if (!timeline) continue;
      const plotsBox = card.querySelector('.plots');
      plot(`${key}/weight`, plotsBox, 'Canary weight (%)', timeline.t, [{ label: `${info.canary} weight`, stroke: PALETTE[1], stepped: true, values: timeline.weight }], '%');
      for (const bound of info.bounds) {
        const m = timeline.metrics[bound.name] || { t: [], value: [], outcome: [] };
        const series = [{ label: bound.name, stroke: PALETTE[0], values: m.value, points: true }];
        if (bound.min !== undefined) series.push({ label: `min ${bound.min}`, stroke: THRESHOLD, dash: [6, 4], values: m.t.map(() => bound.min) });
        if (bound.max !== undefined) series.push({ label: `max ${bound.max}`, stroke: THRESHOLD, dash: [6, 4], values: m.t.map(() => bound.max) });
        plot(`${key}/metric/${bound.name}`, plotsBox, `${bound.name}${bound.unit ? ` (${bound.unit})` : ''} against its bound`, m.t, series, bound.unit);
      }
      const rows = [...timeline.decisions].reverse().slice(0, 100).map((d) =>
        el('tr', {},
          el('td', {}, time(d.at)),
          el('td', {}, d.from ? `${d.from} → ` : '', el('span', { class: `badge ${d.phase}` }, d.phase)),
          el('td', { class: 'num' }, `${d.weight}%`),
          el('td', { class: 'num' }, String(d.failedChecks)),
          el('td', {}, d.reason)));
      card.querySelector('.decisions').replaceChildren(el('table', {},
        el('thead', {}, el('tr', {}, el('th', {}, 'time'), el('th', {}, 'phase'), el('th', { class: 'num' }, 'weight'), el('th', { class: 'num' }, 'failed'), el('th', {}, 'decision and reason'))),
        el('tbody', {}, rows)));
    }
  }

  // ---- services -------------------------------------------------------------

  function splitBar(to, versionIndex) {
    return el('div', { class: 'split' }, to.filter((w) => w.weight > 0).map((w) =>
      el('span', { style: `width:${w.weight}%;background:${colour(versionIndex(w.version))}`, title: `${w.version} ${w.weight}%` }, `${w.version} ${w.weight}%`)));
  }

  const latencyNote = 'Latency comes from sidecars (Envoy stats sink); proxyless clients report over LRS, which carries no latency.';
  /** Up to this many services, every one has its plots; above, services with a canary and those the operator opens. */
  const PLOT_ALL_UP_TO = 12;
  const MAX_ROWS = 100;
  /** Services the operator opened (their plots shown), and each service's plot box, kept across renders. */
  const opened = new Set();
  const plotBoxes = new Map();

  function plotsShown(info) {
    return services.size <= PLOT_ALL_UP_TO || Boolean(info.canary) || opened.has(info.host);
  }

  function toggle(host) {
    if (opened.has(host)) opened.delete(host);
    else opened.add(host);
    // Start over so the newly opened service's history comes in whole.
    since = 0;
    if (inFlight) inFlight.abort();
  }

  function renderServices(rateWindowMs) {
    const list = document.getElementById('service-list');
    const filter = document.getElementById('service-filter').value.trim().toLowerCase();
    const over = `${Math.round(rateWindowMs / 1000)} s`;
    const matching = [...services.values()].filter(({ info }) => !filter || `${info.namespace}/${info.name} ${info.host}`.toLowerCase().includes(filter));
    const shown = matching.slice(0, MAX_ROWS);
    document.getElementById('service-count').textContent = services.size === 0 ? '' : `showing ${shown.length} of ${services.size} services`;
    if (services.size === 0) { list.replaceChildren(el('p', { class: 'empty' }, 'No services yet.')); return; }
    const bodies = shown.map(({ info, series }) => {
      const host = info.host;
      const names = info.versions.map((v) => v.name);
      const versionIndex = (name) => Math.max(0, names.indexOf(name));
      const withPlots = plotsShown(info) && names.length > 0;
      const head = el('tr', { class: 'service-head' }, el('td', { colspan: 6 },
        el('div', { class: 'card-head' },
          names.length && services.size > PLOT_ALL_UP_TO && !info.canary
            ? el('button', { type: 'button', class: 'toggle', 'aria-expanded': String(withPlots), title: withPlots ? 'hide plots' : 'show plots' }, withPlots ? '▾' : '▸')
            : null,
          el('h3', {}, `${info.namespace}/${info.name}`),
          el('span', { class: 'sub mono' }, host),
          info.canary ? el('a', { class: 'badge warn', href: '#canaries' }, `canary ${info.canary}`) : null),
        info.versions.length === 0 ? el('p', { class: 'sub' }, `No TrafficPolicy: round robin over ${info.endpoints} endpoint(s).`) : null,
        info.routes.length ? el('div', { class: 'routes' }, info.routes.map((r) =>
          el('div', { class: 'route' }, el('span', { class: 'name' }, r.name), splitBar(r.to, versionIndex), el('span', { class: 'sub' }, r.match || 'every other request')))) : null));
      const button = head.querySelector('button.toggle');
      if (button) button.addEventListener('click', () => toggle(host));
      const rows = info.versions.map((v, i) => el('tr', { 'data-version': v.name },
        el('td', {}, el('span', { class: 'badge', style: `background:${colour(i)};color:#fff` }, v.name)),
        el('td', { class: 'num' }, `${v.ready}/${v.endpoints}`),
        el('td', { class: 'num' }, fmt(v.rps)),
        el('td', { class: 'num' }, pct(v.errorRatio)),
        el('td', { class: 'num' }, fmt(v.p50Ms)),
        el('td', { class: 'num' }, fmt(v.p99Ms))));
      const body = el('tbody', { 'data-service': host }, head, rows);
      if (withPlots) {
        let box = plotBoxes.get(host);
        if (!box) { box = el('div', { class: 'plots' }); plotBoxes.set(host, box); }
        body.append(el('tr', { class: 'plots-row' }, el('td', { colspan: 6 }, box)));
        if (series && series.t.length) {
          plot(`${host}/rps`, box, 'Requests per second by version', series.t,
            names.map((name, i) => ({ label: name, stroke: colour(i), values: (series.versions[name] || { rps: [] }).rps })), 'req/s');
          plot(`${host}/errors`, box, 'Error ratio by version (%)', series.t,
            names.map((name, i) => ({ label: name, stroke: colour(i), values: (series.versions[name] || { errorRatio: [] }).errorRatio.map((r) => (r === null ? null : 100 * r)) })), '%');
        }
      } else {
        plotBoxes.delete(host);
      }
      return body;
    });
    list.replaceChildren(el('table', { class: 'services' },
      el('thead', {}, el('tr', {}, el('th', {}, 'version'), el('th', { class: 'num' }, 'ready'), el('th', { class: 'num' }, `req/s (${over})`), el('th', { class: 'num' }, 'errors'),
        el('th', { class: 'num', title: latencyNote }, 'p50 ms'), el('th', { class: 'num', title: latencyNote }, 'p99 ms'))),
      bodies));
  }

  // ---- proxies ---------------------------------------------------------------

  function renderProxies(proxies, counts) {
    const kinds = ['clusters', 'endpoints', 'listeners', 'routes'];
    const short = { clusters: 'CDS', endpoints: 'EDS', listeners: 'LDS', routes: 'RDS' };
    const box = document.getElementById('proxy-list');
    if (!proxies.length) { box.replaceChildren(el('p', { class: 'empty' }, 'No proxy is connected.')); return; }
    const rows = [];
    for (const p of proxies) {
      const types = p.types || {};
      rows.push(el('tr', { 'data-proxy': p.nodeId },
        el('td', { class: 'mono' }, p.nodeId), el('td', {}, p.namespace), el('td', {}, p.mode), el('td', {}, p.protocol),
        el('td', { class: 'mono' }, p.peer), el('td', {}, time(Date.parse(p.connectedAt))),
        el('td', { title: p.certificate ? `${p.certificate.spiffeId}, certificate expires ${p.certificate.notAfter}` : 'no workload certificate' }, p.mtls || '–', p.certificate ? el('span', { class: 'sub' }, ` · cert until ${time(Date.parse(p.certificate.notAfter))}`) : ''),
        kinds.map((k) => {
          const s = types[k];
          return el('td', {}, s ? el('span', { class: `badge ${s.status.replace(' ', '-')}`, title: `sent ${s.sent || '–'} · acked ${s.acked || '–'}` }, s.status) : el('span', { class: 'sub' }, '–'));
        })));
      const nacks = kinds.filter((k) => types[k] && types[k].status === 'NACKED');
      if (nacks.length) {
        rows.push(el('tr', {}, el('td', { colspan: 11, class: 'nack' }, nacks.map((k) => `${short[k]} NACK: ${types[k].nackMessage || '(no message)'}`).join('\n'))));
      }
    }
    const summary = el('p', { class: 'sub', id: 'proxy-count' },
      `${counts.total} connected: ${counts.synced} synced, ${counts.stale} stale, ${counts.nacked} rejecting configuration`,
      counts.total > proxies.length ? ` (showing ${proxies.length}, the ones in trouble first)` : '');
    box.replaceChildren(summary, el('div', { class: 'card' }, el('table', {},
      el('thead', {}, el('tr', {}, ['node', 'namespace', 'mode', 'protocol', 'peer', 'connected', 'mTLS'].map((h) => el('th', {}, h)), kinds.map((k) => el('th', {}, short[k])))),
      el('tbody', {}, rows))));
  }

  // ---- the live loop ----------------------------------------------------------

  function setStatus(kind, text) {
    const status = document.getElementById('status');
    status.className = `status ${kind}`;
    status.textContent = text;
  }

  async function loop() {
    for (;;) {
      try {
        const selection = services.size <= PLOT_ALL_UP_TO ? 'all' : [...services.values()].filter(({ info }) => opened.has(info.host)).map(({ info }) => info.host).join(',');
        const query = new URLSearchParams({ series: selection });
        if (since) { query.set('since', String(since)); query.set('wait', '1'); }
        inFlight = new AbortController();
        const response = await fetch(`/console/api/state?${query}`, { cache: 'no-store', signal: inFlight.signal });
        if (!response.ok) throw new Error(`HTTP ${response.status}`);
        const doc = await response.json();
        // A restarted control plane starts its clock afresh: reload everything.
        if (since && doc.sampleAt < since) { since = 0; continue; }
        apply(doc);
        setStatus('live', `live · ${time(doc.sampleAt)}`);
      } catch (error) {
        if (error.name === 'AbortError') continue;
        setStatus('offline', `reconnecting (${error.message})`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    }
  }

  document.getElementById('service-filter').addEventListener('input', () => renderServices(lastRateWindowMs));
  void loop();
})();
