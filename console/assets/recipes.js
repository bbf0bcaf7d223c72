// Recipes: elections (leader, candidates), locks (holder, waiters), queues (depth), barriers
// (members) and jobs.

import { el, cell, table, show } from './dom.js';
import { call, path } from './api.js';
import { failure } from './services.js';

const SECTIONS = [
  ['elections', 'Elections', [['path', 'Path'], ['leader', 'Leader'], ['candidates', 'Candidates']], 'No election.'],
  ['locks', 'Locks', [['path', 'Path'], ['holder', 'Holder'], ['waiters', 'Waiters']], 'No lock.'],
  ['queues', 'Queues', [['path', 'Path'], ['depth', 'Depth']], 'No queue.'],
  ['barriers', 'Barriers', [['path', 'Path'], ['members', 'Members']], 'No barrier.'],
];

/** The recipes view. */
export function recipesView() {
  return {
    title: 'Recipes',
    nav: 'recipes',
    wants: (kind) => kind === 'recipes',
    async refresh(root) {
      const r = await call('GET', path('recipes'));
      if (!r.ok) return root.replaceChildren(el('h1', {}, 'Recipes'), failure(r));
      const parts = SECTIONS.map(([key, title, columns, empty]) => [
        el('h2', {}, title),
        table(`recipes-${key}`, columns.map(([, label]) => label),
          (r.body[key] || []).map((item) => el('tr', {}, columns.map(([field]) => cell(item[field])))), empty),
      ]);
      root.replaceChildren(el('h1', {}, 'Recipes'), ...parts.flat(), el('h2', {}, 'Jobs'), jobs(r.body.jobs || []));
    },
  };
}

/** Jobs carry fields beyond name, last_run and owner: one column per field seen. */
function jobs(list) {
  const fields = ['name', 'last_run', 'owner'];
  for (const job of list) for (const key of Object.keys(job)) if (!fields.includes(key)) fields.push(key);
  const label = (f) => show(f).replace(/_/g, ' ');
  return table('recipes-jobs', fields.map(label), list.map((job) => el('tr', {}, fields.map((f) => cell(job[f])))), 'No job.');
}
