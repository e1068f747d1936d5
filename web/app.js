// The jiaozi console: a small page over the /v1 API with a session cookie (no framework).
// Every value from the server reaches the page through textContent, never as HTML.
'use strict';
(function () {
  let session = null; // {institution, central, csrf}
  let timer = null;
  const charts = {};
  const $ = (id) => document.getElementById(id);

  function yuan(fen) {
    const neg = fen < 0;
    const a = Math.abs(fen);
    const s = Math.floor(a / 100).toLocaleString('en-US') + '.' + String(a % 100).padStart(2, '0');
    return (neg ? '-' : '') + s;
  }

  async function call(method, path, body) {
    const opt = { method, headers: {}, credentials: 'same-origin' };
    if (body !== undefined) {
      opt.headers['Content-Type'] = 'application/json';
      opt.body = JSON.stringify(body);
    }
    if (method !== 'GET' && session) opt.headers['X-CSRF-Token'] = session.csrf;
    const r = await fetch(path, opt);
    let data = null;
    try { data = await r.json(); } catch (e) { data = null; }
    if (!r.ok) {
      const err = new Error(data && data.error ? data.error.code + ': ' + data.error.message : 'HTTP ' + r.status);
      err.status = r.status;
      err.code = data && data.error ? data.error.code : '';
      throw err;
    }
    return data;
  }

  function el(tag, text, cls) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (cls) e.className = cls;
    return e;
  }

  function row(cells, numeric) {
    const tr = document.createElement('tr');
    cells.forEach((c, i) => tr.appendChild(el('td', c, numeric && numeric.includes(i) ? 'num' : '')));
    return tr;
  }

  // ---- Sign-in ----

  function showSignedIn() {
    $('signin').hidden = true;
    $('nav').hidden = false;
    $('logout').hidden = false;
    $('who').textContent = session.institution + (session.central ? ' (central bank)' : '');
    route();
  }

  function showSignIn() {
    session = null;
    if (timer) { clearInterval(timer); timer = null; }
    document.querySelectorAll('.page').forEach((p) => { p.hidden = true; });
    $('nav').hidden = true;
    $('logout').hidden = true;
    $('who').textContent = '';
    $('signin').hidden = false;
  }

  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    $('signin-error').textContent = '';
    try {
      session = await call('POST', '/console/login', { key_id: $('key').value.trim(), secret: $('secret').value.trim() });
      $('secret').value = ''; // the page keeps only the cookie and the CSRF token
      if (location.hash && location.hash !== '#overview') {
        history.replaceState(null, '', '#overview'); // a new sign-in starts at the overview
      }
      showSignedIn();
    } catch (e) {
      $('signin-error').textContent = e.code === 'unauthenticated' ? 'Wrong key id or secret.' : e.message;
    }
  });

  $('logout').addEventListener('click', async () => {
    try { await call('POST', '/console/logout'); } catch (e) { /* signed out anyway */ }
    showSignIn();
  });

  // ---- Pages ----

  function route() {
    if (!session) return;
    const page = (location.hash || '#overview').slice(1);
    document.querySelectorAll('.page').forEach((p) => { p.hidden = p.id !== page; });
    document.querySelectorAll('nav a').forEach((a) => a.classList.toggle('active', a.getAttribute('href') === '#' + page));
    if (timer) { clearInterval(timer); timer = null; }
    if (page === 'overview') { refreshOverview(); timer = setInterval(refreshOverview, 1000); }
    if (page === 'wallets') searchWallets();
    if (page === 'cards') loadCards();
    if (page === 'alerts') loadAlerts();
    if (page === 'clearing') loadList('clearing', '/v1/clearing/cycles', 'cycles');
    if (page === 'campaigns') loadCampaign();
  }
  window.addEventListener('hashchange', route);

  function chart(id, series, data) {
    const host = $(id);
    const width = Math.max(280, host.clientWidth || 320);
    if (!charts[id]) {
      charts[id] = new uPlot({ width, height: 180, series: [{}].concat(series), axes: [{}, { size: 60 }],
        scales: { x: { time: true, range: (u, min, max) => [max - 120, max] } } }, data, host);
    } else {
      charts[id].setData(data);
      if (Math.abs(charts[id].width - width) > 20) charts[id].setSize({ width, height: 180 });
    }
  }

  async function refreshOverview() {
    let s;
    try { s = await call('GET', '/console/stats'); } catch (e) { if (e.status === 401) showSignIn(); return; }
    let wallets = 0; let balance = 0;
    const tb = $('circulation').tBodies[0];
    tb.replaceChildren();
    s.circulation.forEach((c) => {
      wallets += c.wallets; balance += c.balance;
      tb.appendChild(row([c.operator, c.tier, c.wallets.toLocaleString('en-US'), yuan(c.balance)], [2, 3]));
    });
    $('st-issued').textContent = s.issued !== undefined ? yuan(s.issued) : '–';
    $('st-balance').textContent = yuan(balance);
    $('st-wallets').textContent = wallets.toLocaleString('en-US');
    $('st-seq').textContent = s.seq.toLocaleString('en-US');
    const last = s.series.length ? s.series[s.series.length - 1] : null;
    $('st-tps').textContent = last ? Math.round(last[1]).toLocaleString('en-US') : '0';
    const t = s.series.map((p) => p[0] / 1000);
    chart('chart-tps', [{ label: 'commands/s', stroke: '#b42318', width: 2 }], [t, s.series.map((p) => p[1])]);
    chart('chart-lat', [{ label: 'p50 ms', stroke: '#1570ef' }, { label: 'p99 ms', stroke: '#b42318' }],
      [t, s.series.map((p) => p[2]), s.series.map((p) => p[3])]);
  }

  $('wallet-search').addEventListener('submit', (ev) => { ev.preventDefault(); searchWallets(); });

  async function searchWallets() {
    const q = $('wallet-q').value.trim().toLowerCase();
    let r;
    try { r = await call('GET', '/console/wallets?q=' + encodeURIComponent(q)); } catch (e) { return; }
    const tb = $('wallet-list').tBodies[0];
    tb.replaceChildren();
    r.wallets.forEach((w) => {
      const tr = row([w.id, w.operator, w.kind, w.tier, w.status, yuan(w.balance)], [5]);
      tr.className = 'click';
      tr.dataset.id = w.id;
      tr.addEventListener('click', () => showWallet(w.id));
      tb.appendChild(tr);
    });
    if (r.wallets.length === 1) showWallet(r.wallets[0].id);
  }

  async function showWallet(id) {
    $('wd-error').textContent = '';
    let w;
    try { w = await call('GET', '/v1/wallets/' + id); } catch (e) { $('wd-error').textContent = e.message; return; }
    $('wallet-detail').hidden = false;
    $('wd-id').textContent = w.id;
    const dl = $('wd-fields');
    dl.replaceChildren();
    [['Operator', w.operator], ['Kind', w.kind], ['Tier', w.tier], ['Form', w.form], ['Status', w.status],
      ['Balance', yuan(w.balance)], ['Held', yuan(w.held)], ['Available', yuan(w.available)],
      ['Paid today', yuan(w.day_out)], ['Parent', w.parent || '–']].forEach(([k, v]) => {
      dl.appendChild(el('dt', k)); dl.appendChild(el('dd', v));
    });
    const btn = $('wd-freeze');
    btn.textContent = w.status === 'frozen' ? 'Unfreeze' : 'Freeze';
    btn.hidden = session.central || (w.status !== 'active' && w.status !== 'frozen');
    btn.onclick = async () => {
      try {
        await call('PATCH', '/v1/wallets/' + id, { status: w.status === 'frozen' ? 'active' : 'frozen' });
        showWallet(id);
      } catch (e) { $('wd-error').textContent = e.message; }
    };
    const tb = $('wd-history').tBodies[0];
    tb.replaceChildren();
    try {
      const h = await call('GET', '/v1/wallets/' + id + '/transfers?limit=50');
      h.transfers.forEach((t) => tb.appendChild(row([new Date(t.timestamp).toLocaleString(), t.kind,
        t.debit.slice(0, 8) + '…', t.credit.slice(0, 8) + '…', yuan(t.amount)], [4])));
    } catch (e) { $('wd-error').textContent = e.message; }
  }

  // Pages over routes that come with their own modules: shown when the node has them.
  function unavailable(page, e) {
    const body = document.querySelector('#' + page + ' .body');
    body.replaceChildren(el('p', e.code === 'route_not_found' ? 'Not enabled on this node.' : e.message));
  }

  function table(headers, rows) {
    const t = document.createElement('table');
    const tr = document.createElement('tr');
    headers.forEach((h) => tr.appendChild(el('th', h)));
    t.appendChild(document.createElement('thead')).appendChild(tr);
    const tb = t.appendChild(document.createElement('tbody'));
    rows.forEach((r) => tb.appendChild(r));
    return t;
  }

  async function loadList(page, path, key) {
    const body = document.querySelector('#' + page + ' .body');
    try {
      const r = await call('GET', path);
      const items = r[key] || [];
      const headers = items.length ? Object.keys(items[0]).filter((k) => typeof items[0][k] !== 'object') : [];
      body.replaceChildren(items.length ? table(headers, items.map((it) => row(headers.map((h) => it[h]))))
        : el('p', 'None yet.'));
    } catch (e) { unavailable(page, e); }
  }

  // A form that looks one object up by id and shows the fields rows(obj) picks.
  function lookupForm(placeholder, label, path, rows) {
    const form = document.createElement('form');
    const input = el('input');
    input.placeholder = placeholder;
    input.maxLength = 32;
    form.appendChild(input);
    form.appendChild(el('button', label));
    const out = el('div');
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const k = await call('GET', path + input.value.trim().toLowerCase());
        const dl = document.createElement('dl');
        rows(k).forEach(([a, b]) => { dl.appendChild(el('dt', a)); dl.appendChild(el('dd', b)); });
        out.replaceChildren(dl);
      } catch (e) { out.replaceChildren(el('p', e.message, 'error')); }
    });
    return [form, out];
  }

  // Campaigns are looked up by id (the operator that made one knows it; the demo prints it).
  function loadCampaign() {
    document.querySelector('#campaigns .body').replaceChildren(...lookupForm('campaign id (32 hex)', 'Show',
      '/v1/campaigns/', (k) => [['Name', k.name], ['Operator', k.operator], ['Prize', yuan(k.amount)],
        ['Winners', k.winners], ['Registrations', k.registrations], ['Status', k.status],
        ['Registration closes', new Date(k.registration_closes_at).toLocaleString()],
        ['Unspent returns', new Date(k.spend_expires_at).toLocaleString()],
        ['Seed commitment', k.seed_commitment], ['Seed', k.seed || '(not yet revealed)']]));
  }

  async function loadCards() {
    const body = document.querySelector('#cards .body');
    try {
      const r = await call('GET', '/v1/cards/revoked');
      const a = await call('GET', '/v1/cards/alerts');
      const revoked = r.revoked.map((c) => row([c.card_id, c.reason, new Date(c.at).toLocaleString()]));
      const spends = a.alerts.map((x) => row([x.card_id, x.counter, new Date(x.at).toLocaleString(),
        x.evidence.length + ' vouchers']));
      // One card's status and float, by its id (the TSM's view: GET /v1/cards/{id}).
      const lookup = lookupForm('card id (32 hex)', 'Show card', '/v1/cards/', (k) => [['Status', k.status],
        ['Float', yuan(k.float)], ['Wallet', k.wallet], ['Float wallet', k.float_wallet],
        ['Operator', k.operator], ['Tier', k.tier], ['Load commands', k.load_counter],
        ['Expires', new Date(k.expires_at).toLocaleString()], ['Reason', k.reason || '–']]);
      body.replaceChildren(
        ...lookup,
        el('h3', 'Double spending detected'),
        spends.length ? table(['Card', 'Counter', 'At', 'Evidence'], spends) : el('p', 'None.'),
        el('h3', 'Revoked cards'),
        revoked.length ? table(['Card', 'Reason', 'At'], revoked) : el('p', 'None.'));
    } catch (e) { unavailable('cards', e); }
  }

  async function loadAlerts() {
    const body = document.querySelector('#alerts .body');
    try {
      const open = await call('GET', '/v1/alerts?status=open&limit=100');
      const inv = await call('GET', '/v1/alerts?status=investigating&limit=100');
      const r = { alerts: (open.alerts || []).concat(inv.alerts || []) };
      const rows = (r.alerts || []).map((a) => {
        const tr = row([a.id.slice(0, 12) + '…', a.kind, a.severity, a.status, a.subject.slice(0, 12) + '…',
          new Date(a.raised_at).toLocaleString()]);
        tr.dataset.alert = a.id;
        const td = document.createElement('td');
        ['investigating', 'closed_ok', 'closed_suspicious'].forEach((st) => {
          const b = el('button', st.replace('_', ' '), 'secondary');
          b.dataset.action = st;
          b.addEventListener('click', async () => {
            try {
              await call('PATCH', '/v1/alerts/' + a.id, { status: st, note: 'worked in the console' });
              loadAlerts();
            } catch (e) { body.appendChild(el('p', e.message, 'error')); }
          });
          td.appendChild(b);
        });
        tr.appendChild(td);
        return tr;
      });
      body.replaceChildren(rows.length ? table(['Alert', 'Kind', 'Severity', 'Status', 'Wallet', 'Raised', 'Work'], rows)
        : el('p', 'No open alerts.'));
    } catch (e) { unavailable('alerts', e); }
  }

  // A reload keeps the session: the cookie is still there, the CSRF token is asked again.
  call('GET', '/console/session').then((s) => { if (s.csrf) { session = s; showSignedIn(); } else showSignIn(); })
    .catch(showSignIn);
})();
