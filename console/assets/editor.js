// A text editor for a versioned document (a config document or a service's rules): edits start
// from the version shown, saving sends it as expect_version, and a version written meanwhile
// is announced rather than loaded over the operator's edit.

import { el, show, diff as diffView } from './dom.js';
import { outcome } from './outcome.js';

/** An editor. `save(text, expectVersion)` and `diff(text)` (optional) return API responses;
 *  `saved()` is called after a successful save. Returns `{node, update(text, version)}`. */
export function editor(what, { save, diff, saved }) {
  const state = { base: null, clean: '', latest: null };
  const area = el('textarea', { class: 'editor-text', spellcheck: 'false' });
  const baseLabel = el('span', { class: 'muted base-version' });
  const stale = el('div', { class: 'stale', hidden: true });
  const result = el('div', { class: 'editor-result' });
  const dirty = () => area.value !== state.clean;

  function load(text, version) {
    area.value = text;
    state.clean = text;
    state.base = version;
    state.latest = null;
    stale.hidden = true;
    baseLabel.replaceChildren(`editing from version ${show(version)}`);
  }

  function update(text, version) {
    if (!dirty() || state.base === version) {
      if (!dirty()) load(text, version);
      return;
    }
    state.latest = { text, version };
    stale.replaceChildren(
      `Version ${show(version)} was written on the server since you started editing from version ${show(state.base)}: saving will show the conflict. `,
      el('button', { class: 'discard', onclick: () => load(text, version) }, 'Discard my edit and load it'));
    stale.hidden = false;
  }

  async function onSave() {
    const r = await save(area.value, state.base);
    outcome(result, `save ${what}`, r, () => reload(r));
    if (r.ok) {
      state.clean = area.value;
      state.base = r.body && r.body.version !== undefined ? r.body.version : state.base;
      baseLabel.replaceChildren(`editing from version ${show(state.base)}`);
      stale.hidden = true;
      if (saved) saved();
    } else if (r.status === 400 && r.body && typeof r.body.line === 'number') {
      focusAt(area, r.body.line, r.body.column);
    }
  }

  function reload(r) {
    const body = r.body || {};
    if (body.current_text !== undefined) load(body.current_text, body.current_version);
    else if (state.latest) load(state.latest.text, state.latest.version);
    result.replaceChildren();
  }

  async function onDiff() {
    const r = await diff(area.value);
    if (!r.ok) return outcome(result, `diff ${what}`, r);
    const text = r.body && r.body.diff ? r.body.diff : '';
    result.replaceChildren(el('div', {}, text ? 'Your edit against the current version:' : 'No change against the current version.'));
    if (text) result.appendChild(diffView(text));
  }

  const buttons = el('div', { class: 'row' },
    el('button', { class: 'save', onclick: onSave }, 'Save'),
    diff ? el('button', { class: 'diff', onclick: onDiff }, 'Diff against current') : null,
    baseLabel);
  return { node: el('div', { class: 'editor' }, area, buttons, stale, result), update };
}

/** Puts the cursor on (1-based) `line`, `column` of `area`. */
function focusAt(area, line, column) {
  const lines = area.value.split('\n');
  let offset = 0;
  for (let i = 0; i < Math.min(line - 1, lines.length); i++) offset += lines[i].length + 1;
  offset += Math.max(0, (column || 1) - 1);
  area.focus();
  area.setSelectionRange(offset, offset);
}
