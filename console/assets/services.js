// The services list: every service under the root with its layout and counts.

import { el, link, cell, table } from './dom.js';
import { call, path } from './api.js';

/** The services view. */
export function servicesView() {
  return {
    title: 'Services',
    nav: 'services',
    wants: (kind) => kind === 'services' || kind === 'service',
    async refresh(root) {
      const r = await call('GET', path('services'));
      if (!r.ok) return root.replaceChildren(el('h1', {}, 'Services'), failure(r));
      const rows = r.body.map((s) => el('tr', { dataset: { name: s.name } },
        el('td', { class: 'name' }, link(s.name, 'services', s.name)),
        cell(s.layout), cell(s.providers), cell(s.consumers), cell(s.disabled)));
      root.replaceChildren(
        el('h1', {}, 'Services'),
        table('services', ['Service', 'Layout', 'Providers', 'Consumers', 'Disabled'], rows,
          'No service is registered under this root yet.'));
    },
  };
}

/** A failed read, shown in place of the view. */
export function failure(r) {
  const message = r.body && r.body.error !== undefined ? String(r.body.error) : `HTTP ${r.status}`;
  return el('div', { class: 'result error' }, `Could not load this page: ${message}`);
}
