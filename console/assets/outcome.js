// What a write came to, shown to the operator: done, refused (no or wrong token), invalid
// (with line and column), or a conflict with the diff against what is current.

import { el, diff, show } from './dom.js';

let notice = null;

/** The page-wide notice under the header (set by app.js). */
export function setNoticeElement(node) {
  notice = node;
}

/** Shows `message` page-wide (`kind` is `error` or `info`); an empty message hides it. */
export function announce(kind, message) {
  if (!notice) return;
  notice.className = `notice ${kind}`;
  notice.replaceChildren(message || '');
  notice.hidden = !message;
}

/** Renders response `r` of a write into `box`. `what` names the write ("disable 10.0.0.1:80").
 *  `onReload` (optional) is offered on a conflict to load the current version. */
export function outcome(box, what, r, onReload) {
  box.replaceChildren(render(what, r, onReload));
  if (r.status === 403) {
    announce('error', `Writes are refused: ${show(r.body.error)}. Enter the console's write token above.`);
  } else if (r.ok) {
    announce('', '');
  }
}

function render(what, r, onReload) {
  const body = r.body || {};
  if (r.ok) {
    const version = body.version !== undefined ? ` (version ${show(body.version)})` : '';
    return el('div', { class: 'result ok' }, `${what}: done${version}.`);
  }
  if (r.status === 409) return conflict(what, body, onReload);
  if (r.status === 403) {
    return el('div', { class: 'result error refused' }, `${what}: refused, nothing written: ${show(body.error)}`);
  }
  const where = body.line !== undefined
    ? el('span', { class: 'where' }, `Error at line ${show(body.line)}, column ${show(body.column)}: `) : null;
  return el('div', { class: 'result error invalid' },
    `${what}: refused (${r.status}), nothing written. `, where, el('span', { class: 'message' }, show(body.error)));
}

function conflict(what, body, onReload) {
  return el('div', { class: 'conflict' },
    el('strong', {}, `${what}: conflict, nothing written. `),
    `Someone else wrote version ${show(body.current_version)} since this page showed its version. `,
    show(body.error),
    el('div', {}, 'The current version on the server (−) against what you tried to write (+):'),
    diff(body.diff),
    body.current_text !== undefined
      ? el('details', {}, el('summary', {}, 'Current text on the server'), el('pre', { class: 'current-text' }, body.current_text))
      : null,
    onReload ? el('button', { class: 'reload', onclick: onReload }, 'Load the current version') : null);
}
