// One service: its providers (weights, zone, version, age, disabled or ejected) with the
// operator's buttons, its consumers, and its rules document with history.

import { el, cell, table, age, time, show } from './dom.js';
import { call, path } from './api.js';
import { outcome } from './outcome.js';
import { editor } from './editor.js';
import { failure } from './services.js';

/** The view of service `name`. */
export function serviceView(name) {
  const result = el('div', { id: 'service-result' });
  const shown = { version: null };
  // Weights being typed survive the live refreshes that rebuild the table.
  const typed = new Map();
  const refreshSelf = () => view.reload();
  const rules = editor('rules', {
    save: (text, expect) => call('PUT', path('services', name, 'rules'), { text, expect_version: expect }),
    saved: refreshSelf,
  });

  async function write(address, action, body, what) {
    const r = await call('POST', path('services', name, 'providers', address, action),
      { ...body, expect_version: shown.version });
    outcome(result, what, r, refreshSelf);
    if (r.ok) {
      typed.delete(address);
      view.reload();
    }
  }

  /** "ejected by K of N consumers": N counts the consumer nodes, or the consumers that publish
   *  ejections when more of them do (a consumer may publish without registering). */
  function ejectedBadge(p, consumers) {
    const by = p.ejected_by || [];
    const of = Math.max(consumers, by.length);
    return el('span', { class: 'badge ejected', title: `ejected by ${by.join(', ')}` },
      `ejected by ${by.length} of ${of} consumer${of === 1 ? '' : 's'}`);
  }

  function providerRow(p, consumers) {
    const weight = el('input', {
      class: 'weight', type: 'number', min: '0', 'aria-label': `weight of ${p.address}`,
      value: typed.get(p.address) ?? String((p.disabled ? p.registered_weight : p.effective_weight) ?? ''),
      oninput: (event) => typed.set(p.address, event.target.value),
    });
    const toggle = p.disabled
      ? el('button', { class: 'enable', onclick: () => write(p.address, 'enable', {}, `enable ${p.address}`) }, 'Enable')
      : el('button', { class: 'disable danger', onclick: () => write(p.address, 'disable', {}, `disable ${p.address}`) }, 'Disable');
    const setWeight = el('button', {
      class: 'set-weight',
      onclick: () => write(p.address, 'weight', { weight: Number(weight.value) }, `set the weight of ${p.address} to ${weight.value}`),
    }, 'Set weight');
    const state = [p.disabled ? el('span', { class: 'badge disabled' }, 'disabled') : null,
      p.ejected ? ejectedBadge(p, consumers) : null,
      !p.disabled && !p.ejected ? el('span', { class: 'badge ok' }, 'serving') : null];
    return el('tr', { dataset: { address: p.address ?? '' } },
      el('td', { class: 'address', title: p.url || '' }, show(p.address ?? p.node), p.error ? el('div', { class: 'stale' }, show(p.error)) : null),
      cell(p.registered_weight), cell(p.effective_weight), cell(p.zone), cell(p.version), cell(p.tags),
      cell(age(p.age_ms)), el('td', { class: 'state' }, state), el('td', { class: 'actions' }, toggle, ' ', weight, setWeight));
  }

  async function history() {
    const r = await call('GET', path('services', name, 'rules', 'history'));
    if (!r.ok) return failure(r);
    const rows = r.body.map((h) => el('tr', {},
      cell(h.version), cell(h.author), cell(h.message), cell(time(h.time_ms)),
      el('td', {}, h.current
        ? el('span', { class: 'badge ok' }, 'current')
        : el('button', { class: 'rollback', onclick: () => rollback(h.version) }, 'Roll back to this'))));
    return table('rules-history', ['Version', 'Author', 'Message', 'Time', ''], rows, 'No history yet.');
  }

  async function rollback(version) {
    const r = await call('POST', path('services', name, 'rules', 'rollback'), { to_version: version, expect_version: shown.version });
    outcome(result, `roll the rules back to version ${version}`, r, refreshSelf);
    if (r.ok) view.reload();
  }

  const view = {
    title: name,
    nav: 'services',
    reload: () => {},
    wants: (kind, data) => kind === 'service' ? data.name === undefined || data.name === name : kind === 'services',
    async refresh(root) {
      const r = await call('GET', path('services', name));
      if (!r.ok) return root.replaceChildren(el('h1', { id: 'service-name' }, name), failure(r));
      const s = r.body;
      shown.version = s.rules ? s.rules.version ?? null : null;
      rules.update(s.rules ? s.rules.text ?? '' : '', shown.version);
      root.replaceChildren(
        el('h1', { id: 'service-name' }, s.name),
        el('p', { class: 'muted' }, `layout ${show(s.layout)} · rules version `, el('span', { id: 'rules-version' }, show(shown.version))),
        result,
        el('h2', {}, 'Providers'),
        table('providers', ['Address', 'Registered weight', 'Effective weight', 'Zone', 'Version', 'Tags', 'Age', 'State', ''],
          s.providers.map((p) => providerRow(p, Math.max(s.consumers.length, s.health_reports || 0))), 'No provider is registered.'),
        el('h2', {}, 'Consumers'),
        table('consumers', ['Address', 'URL'], s.consumers.map((c) => el('tr', { dataset: { address: c.address } }, cell(c.address), cell(c.url))), 'No consumer is subscribed.'),
        el('h2', {}, 'Rules document'),
        s.rules && s.rules.error ? el('div', { class: 'result error', id: 'rules-error' }, `The stored document does not parse (consumers keep their last good rules): ${show(s.rules.error)}`) : '',
        rules.node,
        el('h2', {}, 'Rules history'),
        await history());
    },
  };
  return view;
}
