// Recipes: elections (leader, candidates), locks (holder, waiters), queues (depth), barriers
// (members), semaphores (leases), groups (members) and jobs.

import { el, cell, table, show, time } from './dom.js';
import { call, path } from './api.js';
import { failure } from './services.js';

/** A participant (`{node, data}`): its data, else its node name; lists joined. */
function who(value) {
  if (Array.isArray(value)) return value.length ? value.map(who).join(', ') : '—';
  if (value && typeof value === 'object') return value.data ? `${show(value.data)} (${show(value.node)})` : show(value.node);
  return show(value);
}

const SECTIONS = [
  ['elections', 'Elections', [['path', 'Path'], ['leader', 'Leader'], ['candidates', 'Candidates']], 'No election.'],
  ['locks', 'Locks', [['path', 'Path'], ['holder', 'Holder'], ['waiters', 'Waiters']], 'No lock.'],
  ['queues', 'Queues', [['path', 'Path'], ['depth', 'Depth']], 'No queue.'],
  ['barriers', 'Barriers', [['path', 'Path'], ['size', 'Size'], ['members', 'Members'], ['ready', 'Ready']], 'No barrier.'],
  ['semaphores', 'Semaphores', [['path', 'Path'], ['leases', 'Leases'], ['acquiring', 'Acquiring']], 'No semaphore.'],
  ['groups', 'Groups', [['path', 'Path'], ['members', 'Members']], 'No group.'],
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
          (r.body[key] || []).map((item) => el('tr', {}, columns.map(([field]) => cell(typeof item[field] === 'number' ? item[field] : who(item[field]))))), empty),
      ]);
      root.replaceChildren(el('h1', {}, 'Recipes'), ...parts.flat(), el('h2', {}, 'Jobs'), jobs(r.body.jobs || []));
    },
  };
}

/** The last run of a job in one line. */
function lastRun(run) {
  if (!run || typeof run !== 'object') return show(run);
  const started = typeof run.started_ms === 'number' ? time(run.started_ms) : show(run.tick_ms);
  return `${show(run.outcome)} on ${show(run.member)} at ${started}`;
}

function jobs(list) {
  const rows = list.map((job) => el('tr', {},
    cell(job.name), cell(job.kind), cell(job.schedule), cell(job.owner), cell(job.members),
    cell(lastRun(job.last_run)), cell(typeof job.next_run_ms === 'number' ? time(job.next_run_ms) : job.next_run_ms)));
  return table('recipes-jobs', ['Name', 'Kind', 'Schedule', 'Owner', 'Members', 'Last run', 'Next run'], rows, 'No job.');
}
