// The edw web page: everything it shows comes from /api/v1, kept live by the server-sent events of
// /api/v1/events. Document data is only ever put on the page as text (textContent), never as HTML.
'use strict';

const state = {session: null, steps: [], stages: [], cursor: null, listed: new Set(), fields: new Set(), timeline: null, completions: null};
const $ = (selector) => document.querySelector(selector);

function el(tag, text, attributes = {}) {
  const node = document.createElement(tag);
  if (text !== undefined && text !== null) node.textContent = String(text);
  for (const [key, value] of Object.entries(attributes)) node.setAttribute(key, value);
  return node;
}

function say(text) {
  $('#message').textContent = text || '';
}

/** A request to the API: JSON both ways, the session's CSRF token and the operator token when there are. */
async function api(path, options = {}) {
  const headers = {accept: 'application/json'};
  if (options.body !== undefined) headers['content-type'] = 'application/json';
  if (options.method && options.method !== 'GET') {
    if (state.session && state.session.csrf_token) headers['x-csrf-token'] = state.session.csrf_token;
    const token = sessionStorage.getItem('edw-token');
    if (token) headers.authorization = `Bearer ${token}`;
  }
  const response = await fetch(path, {method: options.method || 'GET', headers, credentials: 'same-origin', body: options.body === undefined ? undefined : JSON.stringify(options.body)});
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw Object.assign(new Error(body.message || `HTTP ${response.status}`), {status: response.status});
  return body;
}

async function loadSession() {
  state.session = await api('/api/v1/session');
  const s = state.session;
  $('#who').textContent = s.name ? `${s.name}${s.operator ? ' (operator)' : s.reader ? ' (reader)' : ''}` : s.reader ? 'reading without login' : 'not logged in';
  $('#login').hidden = s.reader || s.via !== 'none';
  $('#logout').hidden = s.via !== 'cookie';
  return s;
}

// --- the chain and the completions chart ---------------------------------------------------------

function showStatus(status) {
  const rows = Object.keys(status.rows);
  state.steps = rows.filter((row) => row !== 'new' && status.failed[row] !== undefined);
  if (state.stages.join() !== rows.join()) {
    state.stages = rows;
    const select = $('#documents-filter select[name=stage]');
    for (const row of rows) if (![...select.options].some((o) => o.value === row)) select.append(el('option', row, {value: row}));
  }
  const chain = $('#chain');
  chain.replaceChildren();
  for (const row of rows) {
    const counts = status.rows[row];
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const box = el('div', undefined, {class: 'stage', 'data-row': row});
    box.append(el('b', row), el('span', total, {class: 'n'}));
    const parts = Object.entries(counts).filter(([, n]) => n > 0).map(([s, n]) => `${s.replace('_', ' ')} ${n}`);
    box.append(el('div', parts.join(', ') || 'empty'));
    const rate = status.rates && status.rates.per_s[row === 'new' ? 'registered' : row];
    if (rate !== null && rate !== undefined) box.append(el('div', `${rate.toFixed(2)} /s`, {class: 'rate'}));
    chain.append(box);
  }
}

/** Completions per step and bin: the history from /api/v1/completions when the page opens, then kept up as changes arrive. */
const SPANS = {minute: 6 * 3600, hour: 14 * 86400};

async function loadCompletions() {
  const bin = $('#completions-bin').value;
  const from = Math.floor(Date.now() / 1000) - SPANS[bin];
  state.completions = await api(`/api/v1/completions?from=${from}&bin=${bin}`);
  drawCompletions();
}

/** Ask again from the last bin on and put the answer in place: new completions join the plot live. */
async function refreshCompletions() {
  const held = state.completions;
  if (!held) return;
  const lengths = Object.values(held.steps).map((counts) => counts.length);
  const last = held.from + (Math.max(1, ...lengths) - 1) * held.bin;
  const fresh = await api(`/api/v1/completions?from=${last}&bin=${held.bin === 60 ? 'minute' : 'hour'}`);
  if (state.completions !== held) return;
  const offset = Math.round((fresh.from - held.from) / held.bin);
  for (const [step, counts] of Object.entries(fresh.steps)) {
    const row = held.steps[step] || (held.steps[step] = []);
    counts.forEach((n, i) => {
      row[offset + i] = n;
    });
    for (let i = 0; i < row.length; i++) row[i] = row[i] || 0;
  }
  held.to = fresh.to;
  drawCompletions();
}

let completionsChart;

function drawCompletions() {
  const {from, bin, steps} = state.completions;
  const bins = Math.max(1, ...Object.values(steps).map((counts) => counts.length));
  completionsChart = completionsChart || echarts.init($('#completions'));
  completionsChart.setOption({
    animation: false, tooltip: {trigger: 'axis'}, legend: {}, xAxis: {type: 'time', min: from * 1000, max: (from + (bins + 1) * bin) * 1000}, yAxis: {type: 'value', minInterval: 1, name: bin === 60 ? 'per minute' : 'per hour'},
    series: Object.entries(steps).map(([step, counts]) => ({name: step, type: 'bar', barMinWidth: 2, data: counts.map((n, i) => [new Date((from + i * bin) * 1000), n])})),
  }, {replaceMerge: ['series']});
}

// --- detections per hour ----------------------------------------------------------------------------

let detectionsChart;

async function showDetections(from, to) {
  const counts = await api(`/api/v1/detections/counts?from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}&bin=3600`);
  detectionsChart = detectionsChart || echarts.init($('#detections'));
  detectionsChart.setOption({
    tooltip: {trigger: 'axis'}, xAxis: {type: 'time'}, yAxis: {type: 'value', name: 'per hour'},
    series: [{name: 'detections', type: 'bar', data: counts.counts.map((n, i) => [new Date((counts.from + i * counts.bin) * 1000), n])}],
  });
}

/** Two days from the first detection, or the last day when there is none. */
async function defaultDetectionsRange() {
  const nowS = Math.floor(Date.now() / 1000);
  const first = await api(`/api/v1/detections?from=0&to=${nowS}&limit=1`);
  const start = first.detections.length ? Math.floor(first.detections[0].time / 3600) * 3600 : nowS - 86400;
  return {from: start, to: start + 2 * 86400};
}

// --- documents, timeline, failures, listeners ---------------------------------------------------------

async function listDocuments(more) {
  const form = new FormData($('#documents-filter'));
  const query = new URLSearchParams({limit: '50'});
  for (const key of ['stage', 'state', 'run']) if (form.get(key)) query.set(key, form.get(key));
  // Filters as edw query takes them, several separated by ';' (a list of `in` holds commas).
  for (const filter of String(form.get('where') || '').split(';')) if (filter.trim()) query.append('where', filter.trim());
  if (more && state.cursor) query.set('cursor', state.cursor);
  const page = await api(`/api/v1/documents?${query}`);
  const body = $('#documents tbody');
  if (!more) {
    body.replaceChildren();
    state.listed.clear();
  }
  for (const d of page.documents) {
    const tr = el('tr', undefined, {class: 'clickable', 'data-id': d.id});
    for (const value of [d.id, d.run, d.row, d.state.replace('_', ' '), d.stage]) tr.append(el('td', value));
    tr.children[3].className = `state-${d.state}`;
    tr.addEventListener('click', () => showTimeline(d.id).catch((e) => say(e.message)));
    body.append(tr);
    state.listed.add(d.id);
    offerFields(d.doc);
  }
  state.cursor = page.next;
  $('#documents-next').hidden = !page.next;
}

/** The metadata fields of a listed document (dotted paths to values), offered in the filter box. */
function offerFields(doc, prefix = '', depth = 0) {
  for (const [key, value] of Object.entries(doc)) {
    if (!prefix && (key.startsWith('_') || key === 'process' || key === 'edw')) continue;
    const path = `${prefix}${key}`;
    if (value !== null && typeof value === 'object' && !Array.isArray(value) && depth < 3) offerFields(value, `${path}.`, depth + 1);
    else if (!state.fields.has(path) && state.fields.size < 500) {
      state.fields.add(path);
      $('#fields').append(el('option', undefined, {value: path}));
    }
  }
}

function entryDetail(entry, doc) {
  if (entry.error) return [entry.error.message, entry.error.detail].filter(Boolean).join('\n');
  const outputs = (entry.result && entry.result.outputs) || [];
  const md5s = outputs.map((o) => `${o.path || ''} md5 ${o.md5 || '-'}`);
  return md5s.length ? md5s.join('\n') : entry.result ? JSON.stringify(entry.result) : `md5 ${doc.md5sum || '-'}`;
}

async function showTimeline(id) {
  const t = await api(`/api/v1/documents/${encodeURIComponent(id)}`);
  state.timeline = id;
  $('#timeline').hidden = false;
  $('#timeline-id').textContent = t.id;
  const edw = t.doc.edw || {};
  const extra = edw.failed ? `failed for good at ${edw.failed.step}: ${edw.failed.error}` : edw.retry ? `retry of ${edw.retry.step} at ${new Date(edw.retry.next).toISOString()}` : '';
  $('#timeline-summary').textContent = `run ${t.run || '-'} · row ${t.row} · ${t.state.replace('_', ' ')} · stage ${t.stage} · md5 ${t.doc.md5sum || '-'} · ${t.doc.original_file || ''} ${extra}`;
  const body = $('#timeline tbody');
  body.replaceChildren();
  for (const e of t.entries) {
    const tr = el('tr');
    const status = e.superseded_by !== null ? `superseded by #${e.superseded_by + 1}` : e.status;
    for (const value of [e.index + 1, e.name, status, e.started, e.finished, e.host, e.version, e.attempt]) tr.append(el('td', value));
    const detail = el('td');
    detail.append(el('pre', entryDetail(e, t.doc)));
    tr.append(detail);
    tr.children[2].className = `state-${e.status}`;
    body.append(tr);
  }
}

async function showFailures() {
  const groups = new Map();
  let cursor = null;
  // At most 1000 failed documents are grouped: the page never loads everything.
  for (let pages = 0; pages < 5; pages++) {
    const page = await api(`/api/v1/documents?state=failed&limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    for (const d of page.documents) {
      const failed = (d.doc.edw && d.doc.edw.failed) || {};
      const key = `${failed.step}\u0000${failed.error}`;
      if (!groups.has(key)) groups.set(key, {step: failed.step, error: failed.error, ids: []});
      groups.get(key).ids.push(d.id);
    }
    cursor = page.next;
    if (!cursor) break;
  }
  const box = $('#failures');
  box.replaceChildren();
  if (!groups.size) box.append(el('p', 'no document has failed for good'));
  for (const group of groups.values()) {
    const div = el('div', undefined, {class: 'group'});
    div.append(el('b', `${group.ids.length} at ${group.step}`), el('pre', group.error));
    div.append(el('div', group.ids.slice(0, 20).join(', ') + (group.ids.length > 20 ? ', ...' : '')));
    const button = el('button', 'retry these');
    button.addEventListener('click', async () => {
      try {
        const answer = await api('/api/v1/retry', {method: 'POST', body: {ids: group.ids}});
        say(`${answer.retried} retried`);
        await showFailures();
      } catch (error) {
        say(`retry refused: ${error.message}`);
      }
    });
    div.append(button);
    box.append(div);
  }
}

async function showListeners() {
  const {listeners} = await api('/api/v1/listeners');
  const body = $('#listeners tbody');
  body.replaceChildren();
  for (const l of listeners) {
    const tr = el('tr');
    const steps = l.listeners.map((s) => `${s.step}${s.running ? ` (${s.running} running)` : ''}${s.reachable ? '' : ' [database unreachable]'}`).join(', ');
    for (const value of [l.state, l.owner, l.beat, l.completed, l.failed, steps]) tr.append(el('td', value));
    tr.children[0].className = `state-${l.state}`;
    body.append(tr);
  }
}

// --- live updates -----------------------------------------------------------------------------------

function debounce(fn, ms) {
  let timer;
  return () => {
    clearTimeout(timer);
    timer = setTimeout(() => fn().catch((e) => say(e.message)), ms);
  };
}

function connect() {
  const events = new EventSource('/api/v1/events');
  const refreshDocuments = debounce(() => listDocuments(false), 500);
  const refreshFailures = debounce(showFailures, 1000);
  const refreshListeners = debounce(showListeners, 1000);
  const refreshPlot = debounce(refreshCompletions, 1000);
  events.addEventListener('open', () => {
    $('#live').textContent = 'live';
    $('#live').className = 'badge on';
  });
  events.addEventListener('error', () => {
    $('#live').textContent = 'reconnecting';
    $('#live').className = 'badge off';
  });
  events.addEventListener('status', (event) => showStatus(JSON.parse(event.data)));
  events.addEventListener('change', (event) => {
    const {ids} = JSON.parse(event.data);
    if (ids.some((id) => !id.startsWith('edw-listener:') && !id.startsWith('detection:'))) {
      if (!state.cursor || ids.some((id) => state.listed.has(id))) refreshDocuments();
      refreshFailures();
      refreshPlot();
    }
    if (ids.some((id) => id.startsWith('edw-listener:'))) refreshListeners();
    if (state.timeline && ids.includes(state.timeline)) showTimeline(state.timeline).catch((e) => say(e.message));
  });
}

async function start() {
  const session = await loadSession();
  if (!session.reader) {
    say('log in to see this database');
    return;
  }
  connect();
  const range = await defaultDetectionsRange();
  const form = $('#detections-range');
  form.elements.from.value = new Date(range.from * 1000).toISOString();
  form.elements.to.value = new Date(range.to * 1000).toISOString();
  await Promise.all([listDocuments(false), showFailures(), showListeners(), showDetections(range.from, range.to), loadCompletions()]);
}

$('#login').addEventListener('submit', async (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  try {
    await api('/api/v1/session', {method: 'POST', body: {name: form.get('name'), password: form.get('password')}});
    event.target.reset();
    say('');
    await start();
  } catch (error) {
    say(error.message);
  }
});
$('#logout').addEventListener('click', async () => {
  await api('/api/v1/session', {method: 'DELETE'}).catch(() => {});
  location.reload();
});
$('#token').value = sessionStorage.getItem('edw-token') || '';
$('#token').addEventListener('change', (event) => sessionStorage.setItem('edw-token', event.target.value));
$('#documents-filter').addEventListener('submit', (event) => {
  event.preventDefault();
  listDocuments(false).catch((e) => say(e.message));
});
$('#completions-bin').addEventListener('change', () => loadCompletions().catch((e) => say(e.message)));
$('#documents-next').addEventListener('click', () => listDocuments(true).catch((e) => say(e.message)));
$('#detections-range').addEventListener('submit', (event) => {
  event.preventDefault();
  const form = new FormData(event.target);
  showDetections(form.get('from'), form.get('to')).catch((e) => say(e.message));
});
start().catch((error) => say(error.message));
