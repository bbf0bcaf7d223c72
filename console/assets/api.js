// The console's JSON API and its event stream, as the page uses them.

const TOKEN_KEY = 'zkmesh-console-token';

/** The write token the operator typed (this tab only: sessionStorage). */
export function token() {
  return sessionStorage.getItem(TOKEN_KEY) || '';
}

/** Keeps `value` as the write token, or forgets it when empty. */
export function setToken(value) {
  if (value) sessionStorage.setItem(TOKEN_KEY, value);
  else sessionStorage.removeItem(TOKEN_KEY);
}

/** `/api/` and the percent-encoded segments. */
export function path(...segments) {
  return '/api/' + segments.map(encodeURIComponent).join('/');
}

/** Calls the API; resolves to `{ok, status, body}` and never throws (a network failure is
 *  status 0 with an error body). Writes carry the token as `Authorization: Bearer`. */
export async function call(method, url, body) {
  const headers = { Accept: 'application/json' };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  if (method !== 'GET' && token()) headers.Authorization = 'Bearer ' + token();
  let response;
  try {
    response = await fetch(url, {
      method, headers, body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    return { ok: false, status: 0, body: { error: `the console cannot be reached (${error.message})` } };
  }
  const text = await response.text();
  let data;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = { error: text || response.statusText };
  }
  if (!response.ok && (data === null || typeof data !== 'object')) {
    data = { error: `${response.status} ${response.statusText}` };
  }
  return { ok: response.ok, status: response.status, body: data };
}

/** Listens to `/api/events`: `onEvent(kind, data)` for `services`, `service`, `config`,
 *  `recipes` and `resync` (events were lost: refetch everything); `onState(live)` when the stream opens or drops (the browser reconnects by itself). */
export function listen(onEvent, onState) {
  const source = new EventSource('/api/events');
  source.addEventListener('open', () => onState(true));
  source.addEventListener('error', () => onState(false));
  for (const kind of ['services', 'service', 'config', 'recipes', 'resync']) {
    source.addEventListener(kind, (event) => {
      let data = {};
      try {
        data = JSON.parse(event.data || '{}') || {};
      } catch {
        data = {};
      }
      onEvent(kind, data);
    });
  }
  return source;
}
