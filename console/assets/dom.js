// DOM building without HTML parsing: every string given here becomes a text node or an
// attribute value, so node names and documents read from ZooKeeper can never become markup.

const FORBIDDEN = new Set(['innerHTML', 'outerHTML', 'srcdoc']);

/** Creates `<tag>` with `props` (attributes, `on*` listeners, `class`, `value`, `hidden`,
 *  `disabled`, `dataset`) and `children` (nodes, strings, numbers, arrays, null). */
export function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (FORBIDDEN.has(key)) throw new Error(`el(): ${key} is not allowed`);
    if (value === undefined || value === null || value === false) continue;
    if (key.startsWith('on')) node.addEventListener(key.slice(2), value);
    else if (key === 'class') node.className = value;
    else if (key === 'dataset') Object.assign(node.dataset, value);
    else if (key === 'value' || key === 'hidden' || key === 'disabled') node[key] = value;
    else node.setAttribute(key, String(value));
  }
  append(node, children);
  return node;
}

/** Appends `children` to `node`, strings as text nodes. */
export function append(node, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** A link to a console route: `#/` and the encoded segments. */
export function link(text, ...segments) {
  return el('a', { href: route(...segments) }, text);
}

/** The hash of a console route, each segment percent-encoded. */
export function route(...segments) {
  return '#/' + segments.map(encodeURIComponent).join('/');
}

/** Any JSON value as display text. */
export function show(value) {
  if (value === undefined || value === null) return '—';
  if (Array.isArray(value)) return value.length ? value.map(show).join(', ') : '—';
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value);
}

/** A table of `rows` (arrays of cells) under `headers`; `empty` shown when there is none. */
export function table(id, headers, rows, empty) {
  const body = rows.length
    ? rows
    : [el('tr', {}, el('td', { class: 'empty', colspan: headers.length }, empty))];
  return el('table', { id },
    el('thead', {}, el('tr', {}, headers.map((h) => el('th', {}, h)))),
    el('tbody', {}, body));
}

/** A `<td>`; numbers right-aligned. */
export function cell(value, props = {}) {
  const numeric = typeof value === 'number';
  return el('td', numeric ? { class: 'num', ...props } : props, value instanceof Node ? value : show(value));
}

/** How long ago, from milliseconds: `42s`, `3m 12s`, `5h 2m`, `2d 4h`. */
export function age(ms) {
  if (typeof ms !== 'number' || ms < 0) return '—';
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  return `${Math.floor(s / 86400)}d ${Math.floor((s % 86400) / 3600)}h`;
}

/** A wall-clock time from milliseconds since the epoch. */
export function time(ms) {
  if (typeof ms !== 'number') return '—';
  return new Date(ms).toISOString().replace('T', ' ').replace(/\.\d+Z$/, 'Z');
}

/** A unified diff, one span per line, added lines green and removed ones red. */
export function diff(text) {
  const lines = String(text || '').split('\n').map((line) => {
    const kind = line.startsWith('+') && !line.startsWith('+++') ? 'diff-add'
      : line.startsWith('-') && !line.startsWith('---') ? 'diff-del' : '';
    return el('span', { class: kind }, line + '\n');
  });
  return el('pre', { class: 'diff' }, lines);
}
