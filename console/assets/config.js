// The config center: namespaces and documents; one document with its editor (checked on the
// server), diff, history, rollback and which watcher runs which version.

import { el, link, cell, table, time, show, age } from './dom.js';
import { call, path } from './api.js';
import { outcome } from './outcome.js';
import { editor } from './editor.js';
import { failure } from './services.js';

/** The config view: the list, and document `ns`/`name` when both are given. */
export function configView(ns, name) {
  const selected = ns !== undefined && name !== undefined;
  const result = el('div', { id: 'config-result' });
  const shown = { version: null };
  const doc = selected ? editor(`${ns}/${name}`, {
    save: (text, expect) => call('PUT', path('config', ns, name), { text, expect_version: expect }),
    diff: (text) => call('POST', path('config', ns, name, 'diff'), { text }),
    saved: () => view.reload(),
  }) : null;

  async function sidebar() {
    const r = await call('GET', path('config'));
    if (!r.ok) return failure(r);
    const groups = r.body.map((group) => [
      el('h2', { class: 'namespace' }, group.namespace),
      el('ul', {}, group.names.map((n) => el('li', { class: group.namespace === ns && n === name ? 'current' : '', dataset: { namespace: group.namespace, name: n } },
        link(n, 'config', group.namespace, n)))),
    ]);
    return el('div', { class: 'sidebar', id: 'config-list' },
      groups.length ? groups : el('p', { class: 'muted' }, 'No config document yet.'));
  }

  async function rollback(version) {
    const r = await call('POST', path('config', ns, name, 'rollback'), { to_version: version, expect_version: shown.version });
    outcome(result, `roll ${ns}/${name} back to version ${version}`, r, () => view.reload());
    if (r.ok) view.reload();
  }

  async function history() {
    const r = await call('GET', path('config', ns, name, 'history'));
    if (!r.ok) return failure(r);
    const rows = r.body.map((h) => el('tr', {},
      cell(h.version), cell(h.author), cell(h.message), cell(time(h.time_ms)),
      el('td', {}, h.current
        ? el('span', { class: 'badge ok' }, 'current')
        : el('button', { class: 'rollback', onclick: () => rollback(h.version) }, 'Roll back to this'))));
    return table('config-history', ['Version', 'Author', 'Message', 'Time', ''], rows, 'No history yet.');
  }

  async function documentPane() {
    if (!selected) return el('p', { class: 'muted' }, 'Choose a document on the left.');
    const r = await call('GET', path('config', ns, name));
    if (!r.ok) return failure(r);
    shown.version = r.body.version ?? null;
    doc.update(r.body.text ?? '', shown.version);
    const status = (r.body.status || []).map((s) => el('tr', { dataset: { instance: s.instance } },
      cell(s.host ? `${s.instance} (${s.host})` : s.instance), cell(s.version), el('td', {}, el('span', { class: `badge ${s.state === 'accepted' ? 'ok' : 'ejected'}` }, show(s.state))),
      cell(s.error ?? s.refused), cell(typeof s.since_ms === 'number' ? age(Date.now() - s.since_ms) : null)));
    return el('div', {},
      el('h1', { id: 'config-name' }, `${ns} / ${name}`),
      el('p', { class: 'muted' }, 'version ', el('span', { id: 'config-version' }, show(shown.version))),
      result,
      doc.node,
      el('h2', {}, 'Fleet status'),
      table('config-status', ['Instance', 'Version', 'State', 'Error', 'Since'], status, 'No watcher reports its status for this document.'),
      el('h2', {}, 'History'),
      await history());
  }

  const view = {
    title: selected ? `${ns}/${name}` : 'Config',
    nav: 'config',
    reload: () => {},
    wants: (kind) => kind === 'config',
    async refresh(root) {
      const [list, pane] = [await sidebar(), await documentPane()];
      root.replaceChildren(el('div', { class: 'columns' }, list, el('div', {}, pane)));
    },
  };
  return view;
}
