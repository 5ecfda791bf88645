// The dashboard's script: polls every member's API each second and draws what it finds. It keeps the list of
// members it has learned, so it goes on working while the node the page came from is down. The API token, if any,
// stays in this tab's sessionStorage and goes out as "Authorization: Bearer".
'use strict';

(() => {
  const TOKEN_KEY = 'raft-dashboard-token';
  const ENDPOINTS_KEY = 'raft-dashboard-endpoints';
  const POLL_MS = 1000;
  const TIMEOUT_MS = 900;
  const CHART_POINTS = 120;
  const ROWS_MAX = 25;
  const PROPOSALS = 'raft_proposal_duration_seconds';

  const endpoints = new Set([location.origin]);
  for (const known of JSON.parse(sessionStorage.getItem(ENDPOINTS_KEY) || '[]')) {
    endpoints.add(known);
  }

  const nodes = new Map();        // endpoint -> { up, error, status, events }
  const lastSamples = new Map();  // endpoint -> the previous proposal histogram
  const series = [];              // { ops, p99, mean } per poll

  const $ = (id) => document.getElementById(id);

  function authHeaders() {
    const token = sessionStorage.getItem(TOKEN_KEY);
    return token ? { Authorization: 'Bearer ' + token } : {};
  }

  async function call(endpoint, path, method = 'GET', timeoutMs = TIMEOUT_MS) {
    const abort = new AbortController();
    const timer = setTimeout(() => abort.abort(), timeoutMs);
    try {
      return await fetch(endpoint + path, { method, headers: authHeaders(), signal: abort.signal, cache: 'no-store' });
    } finally {
      clearTimeout(timer);
    }
  }

  async function problem(response) {
    try {
      const body = await response.json();
      return `${response.status} ${body.error}: ${body.detail}`;
    } catch {
      return `${response.status} ${response.statusText}`;
    }
  }

  async function getJson(endpoint, path) {
    const response = await call(endpoint, path);
    if (!response.ok) {
      throw new Error(await problem(response));
    }
    return response.json();
  }

  async function getText(endpoint, path) {
    const response = await call(endpoint, path);
    if (!response.ok) {
      throw new Error(await problem(response));
    }
    return response.text();
  }

  const trimSlash = (url) => url.replace(/\/+$/, '');

  // The cumulative buckets, sum and count of the proposal histogram in Prometheus text.
  function parseHistogram(text) {
    const buckets = [];
    let sum = 0;
    let count = 0;
    for (const line of text.split('\n')) {
      if (line.startsWith(PROPOSALS + '_bucket{le="')) {
        const le = line.slice(PROPOSALS.length + 12, line.indexOf('"', PROPOSALS.length + 12));
        buckets.push({ le: le === '+Inf' ? Infinity : Number(le), count: Number(line.slice(line.lastIndexOf(' ') + 1)) });
      } else if (line.startsWith(PROPOSALS + '_sum ')) {
        sum = Number(line.slice(PROPOSALS.length + 5));
      } else if (line.startsWith(PROPOSALS + '_count ')) {
        count = Number(line.slice(PROPOSALS.length + 7));
      }
    }
    return { buckets, sum, count, at: performance.now() };
  }

  // What one node's histogram gained since its previous sample; null after a restart (the counters went back).
  function delta(endpoint, sample) {
    const previous = lastSamples.get(endpoint);
    lastSamples.set(endpoint, sample);
    if (!previous || sample.count < previous.count || previous.buckets.length !== sample.buckets.length) {
      return null;
    }
    return {
      count: sample.count - previous.count,
      sum: sample.sum - previous.sum,
      buckets: sample.buckets.map((b, i) => ({ le: b.le, count: b.count - previous.buckets[i].count })),
      seconds: (sample.at - previous.at) / 1000,
    };
  }

  function quantile(buckets, count, q) {
    const rank = q * count;
    let below = 0;
    let lower = 0;
    for (const bucket of buckets) {
      if (bucket.count >= rank) {
        if (bucket.le === Infinity) {
          return lower;
        }
        const inBucket = bucket.count - below;
        return lower + (bucket.le - lower) * (inBucket === 0 ? 1 : (rank - below) / inBucket);
      }
      below = bucket.count;
      lower = bucket.le;
    }
    return lower;
  }

  async function pollNode(endpoint) {
    const [status, events, metrics] = await Promise.allSettled([
      getJson(endpoint, '/v1/cluster'),
      getJson(endpoint, '/v1/cluster/events'),
      getText(endpoint, '/metrics'),
    ]);
    if (status.status === 'rejected') {
      nodes.set(endpoint, { up: false, error: String(status.reason.message || status.reason) });
      lastSamples.delete(endpoint);
      return null;
    }
    nodes.set(endpoint, { up: true, status: status.value, events: events.status === 'fulfilled' ? events.value : null });
    for (const member of status.value.members) {
      if (member.http) {
        endpoints.add(trimSlash(member.http));
      }
    }
    return metrics.status === 'fulfilled' ? delta(endpoint, parseHistogram(metrics.value)) : null;
  }

  async function poll() {
    const deltas = await Promise.all([...endpoints].map(pollNode));
    sessionStorage.setItem(ENDPOINTS_KEY, JSON.stringify([...endpoints]));
    recordWrites(deltas.filter((d) => d !== null));
    render();
    setTimeout(poll, POLL_MS);
  }

  // Only the leader observes proposals, so the cluster's writes are the sum over the nodes.
  function recordWrites(deltas) {
    if (deltas.length === 0) {
      series.push(null);
    } else {
      const count = deltas.reduce((n, d) => n + d.count, 0);
      const sum = deltas.reduce((n, d) => n + d.sum, 0);
      const seconds = Math.max(...deltas.map((d) => d.seconds));
      const buckets = deltas[0].buckets.map((b, i) => ({ le: b.le, count: deltas.reduce((n, d) => n + (d.buckets[i] ? d.buckets[i].count : 0), 0) }));
      series.push({
        ops: seconds > 0 ? count / seconds : 0,
        p99: count > 0 ? quantile(buckets, count, 0.99) * 1000 : null,
        mean: count > 0 ? (sum / count) * 1000 : null,
      });
    }
    while (series.length > CHART_POINTS) {
      series.shift();
    }
  }

  const up = () => [...nodes.values()].filter((n) => n.up);

  // The leader as the reachable nodes see it: one that says it leads (the highest term wins), else the one named in the highest term.
  function currentLeader() {
    let best = null;
    for (const node of up()) {
      const s = node.status;
      const candidate = s.role === 'leader' ? { id: s.nodeId, term: s.term, self: true } : s.leaderId ? { id: s.leaderId, term: s.term, self: false } : null;
      if (candidate && (!best || candidate.term > best.term || (candidate.term === best.term && candidate.self && !best.self))) {
        best = candidate;
      }
    }
    return best;
  }

  function memberList() {
    const members = new Map();
    const views = up().map((n) => n.status).sort((a, b) => a.term - b.term || a.commitIndex - b.commitIndex);
    for (const view of views) {
      for (const member of view.members) {
        members.set(member.id, member);
      }
    }
    return [...members.values()].sort((a, b) => a.id - b.id);
  }

  const nodeById = (id) => up().find((n) => n.status.nodeId === id);

  // The shortest silence any other reachable node reports for id.
  function lastContact(id) {
    let best = null;
    for (const node of up()) {
      if (node.status.nodeId === id || !node.events) {
        continue;
      }
      const contact = node.events.contacts.find((c) => c.id === id);
      if (contact && contact.silentMs !== null && (best === null || contact.silentMs < best)) {
        best = contact.silentMs;
      }
    }
    return best;
  }

  function ago(ms) {
    if (ms === null || ms === undefined) {
      return '—';
    }
    return ms < 1000 ? `${ms} ms ago` : `${(ms / 1000).toFixed(1)} s ago`;
  }

  function clock(at) {
    const d = new Date(at);
    return d.toTimeString().slice(0, 8) + '.' + String(d.getMilliseconds()).padStart(3, '0');
  }

  function row(cells, attributes = {}, className = '') {
    const tr = document.createElement('tr');
    if (className) {
      tr.className = className;
    }
    for (const [name, value] of Object.entries(attributes)) {
      tr.setAttribute(name, String(value));
    }
    for (const cell of cells) {
      const td = document.createElement('td');
      td.textContent = cell === null || cell === undefined ? '—' : String(cell);
      tr.appendChild(td);
    }
    return tr;
  }

  function fill(tableId, rows) {
    $(tableId).querySelector('tbody').replaceChildren(...rows);
  }

  function render() {
    const leader = currentLeader();
    const badge = $('leader');
    badge.dataset.leaderId = leader ? leader.id : 0;
    badge.dataset.term = leader ? leader.term : 0;
    badge.className = leader ? 'leader known' : 'leader';
    badge.textContent = leader ? `leader: node ${leader.id} · term ${leader.term}` : 'no leader known';

    const reachable = up().length;
    const origin = nodes.get(location.origin);
    $('source').textContent = `${reachable} of ${nodes.size} members answering` + (origin && !origin.up ? ' · this page\'s node is down' : '');

    const members = memberList();
    fill('members', members.map((m) => {
      const endpoint = m.http ? trimSlash(m.http) : null;
      const node = endpoint ? nodes.get(endpoint) : undefined;
      const leaderView = leader ? nodeById(leader.id) : undefined;
      const lag = leaderView ? leaderView.status.members.find((x) => x.id === m.id)?.lag : m.lag;
      if (!node || !node.up) {
        return row([m.id, endpoint, 'unreachable', null, null, null, lag, ago(lastContact(m.id))], { 'data-member': m.id, 'data-role': 'down', title: node ? node.error : '' }, 'down');
      }
      const s = node.status;
      return row([m.id, endpoint, s.role, s.term, s.commitIndex, s.appliedIndex, lag, ago(lastContact(m.id))], { 'data-member': m.id, 'data-role': s.role }, 'role-' + s.role);
    }));

    renderHistory();
    renderChoices(members);
    drawChart();
  }

  function renderHistory() {
    const changes = new Map();
    const elections = new Map();
    for (const node of up()) {
      if (!node.events) {
        continue;
      }
      for (const c of node.events.leaderChanges) {
        const key = `${c.term}/${c.leaderId}/${c.leaderId === 0 ? c.previousLeaderId : ''}`;
        const seen = changes.get(key);
        const better = !seen || (seen.cause === 'discovered' && c.cause !== 'discovered');
        changes.set(key, better ? { ...c, at: seen && seen.at < c.at ? seen.at : c.at } : seen);
      }
      for (const e of node.events.elections) {
        elections.set(`${e.candidate}/${e.started}`, e);
      }
    }

    const sortedChanges = [...changes.values()].sort((a, b) => b.term - a.term || (a.at < b.at ? 1 : -1)).slice(0, ROWS_MAX);
    fill('leader-changes', sortedChanges.map((c) => row(
      [clock(c.at), c.term, c.leaderId === 0 ? `node ${c.previousLeaderId} stepped down` : `node ${c.leaderId}`, c.previousLeaderId || null, c.cause],
      { 'data-term': c.term, 'data-leader': c.leaderId, 'data-previous': c.previousLeaderId, 'data-cause': c.cause })));

    const sortedElections = [...elections.values()].sort((a, b) => (a.started < b.started ? 1 : -1)).slice(0, ROWS_MAX);
    fill('elections', sortedElections.map((e) => row(
      [clock(e.started), `node ${e.candidate}`, e.term, e.durationMs === null ? 'running' : `${e.durationMs.toFixed(1)} ms`, e.outcome, e.cause],
      { 'data-candidate': e.candidate, 'data-term': e.term, 'data-outcome': e.outcome })));
  }

  function renderChoices(members) {
    const ids = members.filter((m) => m.voter).map((m) => String(m.id));
    syncOptions($('transfer-to'), ids, 1);
    syncOptions($('snapshot-on'), members.map((m) => String(m.id)), 0);
  }

  // Keeps a select's options (after the first `fixed` ones) equal to ids, without losing the user's choice.
  function syncOptions(select, ids, fixed) {
    const current = [...select.options].slice(fixed).map((o) => o.value);
    if (current.join(',') === ids.join(',')) {
      return;
    }
    const chosen = select.value;
    while (select.options.length > fixed) {
      select.remove(fixed);
    }
    for (const id of ids) {
      select.add(new Option(`node ${id}`, id));
    }
    if ([...select.options].some((o) => o.value === chosen)) {
      select.value = chosen;
    }
  }

  function drawChart() {
    const canvas = $('chart');
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || canvas.width;
    const height = canvas.clientHeight || canvas.height;
    canvas.width = width * ratio;
    canvas.height = height * ratio;
    const g = canvas.getContext('2d');
    g.setTransform(ratio, 0, 0, ratio, 0, 0);
    g.clearRect(0, 0, width, height);

    const pad = { left: 56, right: 56, top: 10, bottom: 20 };
    const plotW = width - pad.left - pad.right;
    const plotH = height - pad.top - pad.bottom;
    const points = series.map((p, i) => ({ i, p }));
    // How many of the latest polls in a row saw writes: what a test waits on before it takes a picture.
    const idle = series.findLastIndex((p) => !p || p.ops === 0);
    canvas.dataset.writePoints = series.length - 1 - idle;
    const maxOps = Math.max(1, ...series.map((p) => (p ? p.ops : 0)));
    const maxMs = Math.max(1, ...series.map((p) => (p && p.p99 !== null ? p.p99 : 0)));
    const x = (i) => pad.left + (plotW * (i + CHART_POINTS - series.length)) / (CHART_POINTS - 1);

    g.strokeStyle = '#d9dee5';
    g.strokeRect(pad.left, pad.top, plotW, plotH);
    g.fillStyle = '#6b7480';
    g.font = '11px system-ui, sans-serif';
    g.textAlign = 'right';
    g.fillText(`${Math.round(maxOps)}/s`, pad.left - 4, pad.top + 10);
    g.fillText('0', pad.left - 4, pad.top + plotH);
    g.textAlign = 'left';
    g.fillText(`${maxMs.toFixed(1)} ms`, pad.left + plotW + 4, pad.top + 10);
    g.fillText('0', pad.left + plotW + 4, pad.top + plotH);
    g.textAlign = 'center';
    g.fillText(`last ${CHART_POINTS} s`, pad.left + plotW / 2, height - 4);

    const line = (color, value, max) => {
      g.strokeStyle = color;
      g.lineWidth = 1.5;
      g.beginPath();
      let drawing = false;
      for (const { i, p } of points) {
        const v = p ? value(p) : null;
        if (v === null) {
          drawing = false;
          continue;
        }
        const y = pad.top + plotH - (plotH * v) / max;
        if (drawing) {
          g.lineTo(x(i), y);
        } else {
          g.moveTo(x(i), y);
          drawing = true;
        }
      }
      g.stroke();
    };
    line('#1f5fbf', (p) => p.ops, maxOps);
    line('#d97706', (p) => p.p99, maxMs);
    line('#7c3aed', (p) => p.mean, maxMs);
  }

  function say(text, isError) {
    const result = $('action-result');
    result.textContent = text;
    result.className = isError ? 'error' : 'muted';
  }

  // An admin action goes to the leader when it answers, else to any node that does.
  async function act(path, preferred) {
    const order = [preferred, ...endpoints].filter(Boolean);
    const tried = new Set();
    for (const endpoint of order) {
      if (tried.has(endpoint) || !(nodes.get(endpoint)?.up)) {
        continue;
      }
      tried.add(endpoint);
      try {
        // A transfer is answered once the new leader has taken over: longer than a poll.
        return { response: await call(endpoint, path, 'POST', 10 * TIMEOUT_MS), endpoint };
      } catch {
        // Unreachable since the last poll: try the next node.
      }
    }
    return null;
  }

  function endpointOf(id) {
    const member = memberList().find((m) => m.id === id);
    return member && member.http ? trimSlash(member.http) : null;
  }

  async function transfer() {
    const to = $('transfer-to').value;
    const leader = currentLeader();
    say('transferring leadership…', false);
    const answer = await act('/v1/cluster/transfer-leader' + (to ? `?to=${encodeURIComponent(to)}` : ''), leader ? endpointOf(leader.id) : null);
    if (!answer) {
      say('no node answered', true);
    } else if (answer.response.ok) {
      const body = await answer.response.json();
      say(`leadership moved from node ${body.from} to node ${body.leaderId}`, false);
    } else {
      say(`transfer refused: ${await problem(answer.response)}`, true);
    }
  }

  async function snapshot() {
    const id = Number($('snapshot-on').value);
    const endpoint = endpointOf(id);
    if (!endpoint || !(nodes.get(endpoint)?.up)) {
      say(`node ${id} does not answer`, true);
      return;
    }
    say(`asking node ${id} for a snapshot…`, false);
    try {
      const response = await call(endpoint, '/v1/cluster/snapshot', 'POST');
      if (response.ok) {
        const body = await response.json();
        say(`node ${body.nodeId}: snapshot ${body.status} at index ${body.index}`, false);
      } else {
        say(`snapshot refused: ${await problem(response)}`, true);
      }
    } catch (error) {
      say(`node ${id} did not answer: ${error.message}`, true);
    }
  }

  $('token').value = sessionStorage.getItem(TOKEN_KEY) || '';
  $('token-form').addEventListener('submit', (event) => {
    event.preventDefault();
    const token = $('token').value.trim();
    if (token) {
      sessionStorage.setItem(TOKEN_KEY, token);
    } else {
      sessionStorage.removeItem(TOKEN_KEY);
    }
    say(token ? 'token set for this tab' : 'token cleared', false);
  });
  $('transfer').addEventListener('click', transfer);
  $('snapshot').addEventListener('click', snapshot);
  poll();
})();
