// The zkmesh console page: hash routing, the write token, the overview line and the live
// refresh from /api/events (the page refetches what an event names; it never polls).

import { el, show } from './dom.js';
import { call, path, token, setToken, listen } from './api.js';
import { announce, setNoticeElement } from './outcome.js';
import { servicesView } from './services.js';
import { serviceView } from './service.js';
import { configView } from './config.js';
import { recipesView } from './recipes.js';

const root = document.getElementById('view');
let current = null;
let running = false;
let again = false;

function decode(segment) {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}

/** The view for `hash`: #/services, #/services/NAME, #/config, #/config/NS/NAME, #/recipes. */
function viewFor(hash) {
  const parts = hash.replace(/^#\/?/, '').split('/').filter((p) => p !== '').map(decode);
  if (parts[0] === 'services' && parts.length === 2) return serviceView(parts[1]);
  if (parts[0] === 'config' && parts.length === 3) return configView(parts[1], parts[2]);
  if (parts[0] === 'config') return configView();
  if (parts[0] === 'recipes') return recipesView();
  return servicesView();
}

/** Refreshes the current view; refreshes asked for while one runs are folded into one more. */
async function refresh() {
  if (running) {
    again = true;
    return;
  }
  running = true;
  try {
    do {
      again = false;
      const view = current;
      await view.refresh(root);
      if (view !== current) again = true;
    } while (again);
  } catch (error) {
    root.replaceChildren(el('div', { class: 'result error' }, `This page failed: ${show(error && error.message)}`));
  } finally {
    running = false;
    document.body.dataset.ready = 'true';
  }
}

function navigate() {
  current = viewFor(location.hash);
  current.reload = refresh;
  document.title = `${current.title} · zkmesh console`;
  for (const nav of ['services', 'config', 'recipes']) {
    document.getElementById(`nav-${nav}`).className = current.nav === nav ? 'current' : '';
  }
  root.replaceChildren(el('p', { class: 'muted' }, 'loading…'));
  refresh();
}

async function overview() {
  const r = await call('GET', path('overview'));
  const line = document.getElementById('overview');
  if (!r.ok) return line.replaceChildren(`overview unavailable: ${show(r.body && r.body.error)}`);
  const o = r.body;
  line.replaceChildren(...[`root ${show(o.root)} on ${show(o.zookeeper)} · `,
    el('span', { id: 'mode', class: o.writable ? 'badge ok' : 'badge off' }, o.writable ? 'writable with the token' : 'read-only'),
    ` zkmesh ${show(o.version)}`,
    o.connected === false ? el('span', { class: 'badge disabled' }, 'ZooKeeper disconnected') : null,
    o.live === false ? el('span', { class: 'badge ejected', title: 'the watches behind the live view are not armed' }, 'not live') : null].filter(Boolean));
}

function setupToken() {
  const input = document.getElementById('token');
  input.value = token();
  input.addEventListener('change', () => {
    setToken(input.value.trim());
    announce('', '');
  });
}

function setupEvents() {
  const badge = document.getElementById('live');
  let wasLive = false;
  listen((kind, data) => {
    if (kind === 'resync') {
      overview();
      if (current) refresh();
    } else if (current && current.wants(kind, data)) {
      refresh();
    }
  }, (live) => {
    badge.className = live ? 'badge on' : 'badge off';
    badge.replaceChildren(live ? 'live' : 'reconnecting');
    // Events sent while the stream was down are lost: refetch once it is back.
    if (live && !wasLive && current) refresh();
    wasLive = live;
  });
}

setNoticeElement(document.getElementById('notice'));
setupToken();
window.addEventListener('hashchange', navigate);
navigate();
overview();
setupEvents();
