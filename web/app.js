// huddle's web client. Plain ES module, no framework: views are static elements in
// index.html that this file shows, hides and fills.
//
// Rules this file keeps:
// - User data (names, message text, group titles) only ever reaches the page through
//   textContent / createTextNode, never innerHTML, so a message cannot inject markup.
// - The login token lives only in the HttpOnly cookie the server sets; the page never
//   stores it, so a script running in the page could not steal it either.
// - The route is the URL hash (#/ or #/groups/7), so a reload keeps the view.
// Protocol: docs/protocol.md (HTTP API, WebSocket frames, close codes, ?since= replay).

const HISTORY_LIMIT = 100; // messages fetched when a group is first opened
const BACKOFF_FIRST_MS = 500;
const BACKOFF_CAP_MS = 30_000;
const WELCOME_TIMEOUT_MS = 10_000; // a socket without a welcome by then counts as failed

const $ = (testid) => document.querySelector(`[data-testid="${testid}"]`);

const ui = {
  loading: $('loading'),
  whoami: $('whoami'),
  logout: $('logout'),
  loginView: $('login-view'),
  loginForm: $('login-form'),
  loginUser: $('login-username'),
  loginPass: $('login-password'),
  loginError: $('login-error'),
  loginSubmit: $('login-submit'),
  groupsView: $('groups-view'),
  groupList: $('group-list'),
  noGroups: $('no-groups'),
  chatView: $('chat-view'),
  chatTitle: $('chat-title'),
  connState: $('connection-state'),
  connWord: document.querySelector('[data-testid="connection-state"] .conn-word'),
  connCountdown: document.querySelector('[data-testid="connection-state"] .conn-countdown'),
  accessError: $('access-error'),
  notice: $('chat-notice'),
  messages: $('messages'),
  members: $('members'),
  chatBody: $('chat-body'),
  composer: $('composer'),
  composerText: $('composer-text'),
  composerSend: $('composer-send'),
};

// What the server said about the caller: null until GET /api/groups answered 200.
// user is null when the server runs with --auth none (no accounts, no login form).
let session = null; // { user: string|null, groups: [{id, title, role}] }
let chat = null; // the open GroupChat, if the route is a group

// ---- HTTP -------------------------------------------------------------------------------

// fetch() that resolves to { status, body, headers }; body is parsed JSON or null.
// A network failure (server down) rejects, which callers treat as "try again later".
async function api(method, path, body) {
  const init = { method, headers: {}, credentials: 'same-origin', cache: 'no-store' };
  if (body !== undefined) {
    init.headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  let parsed = null;
  try {
    parsed = await response.json();
  } catch {
    // Not JSON (or empty): the status alone says enough.
  }
  return { status: response.status, body: parsed, headers: response.headers };
}

// ---- Views ------------------------------------------------------------------------------

function showView(view) {
  for (const v of [ui.loading, ui.loginView, ui.groupsView, ui.chatView]) v.hidden = v !== view;
}

function showHeader() {
  const user = session?.user ?? null;
  ui.whoami.hidden = user === null;
  ui.whoami.textContent = user === null ? '' : user;
  // With --auth none there is nobody to log out.
  ui.logout.hidden = user === null;
}

function showLogin(message) {
  closeChat();
  session = null;
  showHeader();
  showView(ui.loginView);
  ui.loginError.hidden = !message;
  ui.loginError.textContent = message || '';
  ui.loginSubmit.disabled = false;
  ui.loginUser.focus();
}

function renderGroups() {
  ui.groupList.replaceChildren();
  for (const group of session.groups) {
    const li = document.createElement('li');
    const link = document.createElement('a');
    link.href = `#/groups/${group.id}`;
    link.dataset.testid = 'group-link';
    link.dataset.groupId = String(group.id);
    link.textContent = group.title || `Group ${group.id}`;
    li.append(link);
    ui.groupList.append(li);
  }
  ui.noGroups.hidden = session.groups.length > 0;
  document.title = 'huddle';
  showView(ui.groupsView);
}

// ---- Session and routing ----------------------------------------------------------------

// Asks the server who we are. The cookie is HttpOnly, so this call is the only way to know
// whether we are logged in: 200 → render the route, 401 → login form.
async function loadSession() {
  let result;
  try {
    result = await api('GET', '/api/groups');
  } catch {
    showView(ui.loading);
    ui.loading.textContent = 'Cannot reach the server. Retrying…';
    setTimeout(loadSession, 3000);
    return;
  }
  if (result.status === 401) {
    showLogin('');
    return;
  }
  if (result.status !== 200 || !result.body) {
    showView(ui.loading);
    ui.loading.textContent = `The server answered ${result.status}. Retrying…`;
    setTimeout(loadSession, 3000);
    return;
  }
  session = { user: result.body.user ?? null, groups: result.body.groups ?? [] };
  showHeader();
  route();
}

function parseRoute() {
  const match = /^#\/groups\/(\d{1,18})$/.exec(location.hash);
  return match ? { group: Number(match[1]) } : { group: null };
}

function route() {
  if (!session) return; // the login form is up; it routes once logged in
  const { group } = parseRoute();
  if (group === null) {
    closeChat();
    renderGroups();
    return;
  }
  if (chat && chat.groupId === group) return;
  closeChat();
  const known = session.groups.find((g) => g.id === group);
  chat = new GroupChat(group, known ? known.title : `Group ${group}`);
  chat.start();
}

function closeChat() {
  if (chat) {
    chat.stop();
    chat = null;
  }
}

ui.loginForm.addEventListener('submit', async (event) => {
  event.preventDefault();
  const username = ui.loginUser.value.trim();
  const password = ui.loginPass.value;
  if (!username || !password) {
    showLoginError('Enter your username and password.');
    return;
  }
  ui.loginSubmit.disabled = true;
  let result;
  try {
    result = await api('POST', '/api/login', { username, password });
  } catch {
    ui.loginSubmit.disabled = false;
    showLoginError('Cannot reach the server.');
    return;
  }
  ui.loginSubmit.disabled = false;
  if (result.status === 200) {
    ui.loginPass.value = '';
    ui.loginError.hidden = true;
    await loadSession();
  } else if (result.status === 401) {
    showLoginError('Wrong username or password.');
  } else if (result.status === 429) {
    const wait = Number(result.headers.get('Retry-After'));
    showLoginError(
      Number.isFinite(wait) && wait > 0
        ? `Too many attempts. Try again in ${wait} s.`
        : 'Too many attempts. Try again later.',
    );
  } else {
    showLoginError(result.body?.detail || `Login failed (${result.status}).`);
  }
});

function showLoginError(message) {
  ui.loginError.textContent = message;
  ui.loginError.hidden = false;
}

ui.logout.addEventListener('click', async () => {
  closeChat();
  try {
    await api('POST', '/api/logout');
  } catch {
    // Offline: the cookie stays, but the page still forgets the session.
  }
  location.hash = '#/';
  showLogin('');
});

window.addEventListener('hashchange', route);

// ---- One open group ---------------------------------------------------------------------

// The chat view of one group: history, then a WebSocket that stays open, reconnecting with
// ?since=<last id seen> so the stream continues with no gap and no duplicate.
class GroupChat {
  constructor(groupId, title) {
    this.groupId = groupId;
    this.title = title;
    this.me = session?.user ?? null; // replaced by welcome.user (a guest name with --auth none)
    this.lastId = 0; // highest message id rendered
    this.epoch = null; // the history the ids belong to (from the API, then each welcome)
    this.seen = new Set(); // ids rendered: a replayed message is never shown twice
    this.historyLoaded = false;
    this.online = new Set(); // other users online, from welcome then join/leave
    this.socket = null;
    this.welcomed = false; // the current socket got its welcome
    this.attempt = 0; // failures since the last welcome, for the backoff
    this.stopped = false;
    this.timers = new Set();
    this.nextRef = 1;
    this.waiting = false; // a reconnect is scheduled (in backoff)
    this.onBrowserOnline = () => this.retryNow();
  }

  start() {
    ui.chatTitle.textContent = this.title;
    document.title = `${this.title} — huddle`;
    ui.messages.replaceChildren();
    ui.members.replaceChildren();
    ui.accessError.hidden = true;
    ui.notice.hidden = true;
    ui.chatBody.hidden = false;
    ui.composer.hidden = false;
    ui.composerText.value = '';
    showView(ui.chatView);
    this.renderMembers();
    window.addEventListener('online', this.onBrowserOnline);
    ui.composerText.focus();
    this.connect();
  }

  stop() {
    this.stopped = true;
    window.removeEventListener('online', this.onBrowserOnline);
    this.clearTimers();
    if (this.socket) {
      const socket = this.socket;
      this.socket = null;
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000);
    }
    this.setSendable(false);
  }

  clearTimers() {
    for (const clear of this.timers) clear();
    this.timers.clear();
  }

  later(ms, fn) {
    const id = setTimeout(() => {
      this.timers.delete(clear);
      fn();
    }, ms);
    const clear = () => clearTimeout(id);
    this.timers.add(clear);
  }

  every(ms, fn) {
    const id = setInterval(fn, ms);
    this.timers.add(() => clearInterval(id));
  }

  // `countdown` is extra visible text that screen readers skip (see index.html).
  setState(state, word, countdown = '') {
    ui.connState.dataset.state = state;
    // Rewriting the same text would make screen readers announce it again.
    if (ui.connWord.textContent !== word) ui.connWord.textContent = word;
    ui.connCountdown.textContent = countdown;
    this.setSendable(state === 'online');
  }

  setSendable(on) {
    ui.composerSend.disabled = !on;
  }

  async connect() {
    if (this.stopped) return;
    this.waiting = false;
    this.clearTimers();
    this.setState('connecting', 'Connecting…');
    if (!this.historyLoaded) {
      let result;
      try {
        result = await api('GET', `/api/groups/${this.groupId}/messages?limit=${HISTORY_LIMIT}`);
      } catch {
        if (!this.stopped) this.scheduleReconnect();
        return;
      }
      if (this.stopped) return;
      if (this.handleRefusal(result.status)) return;
      if (result.status !== 200 || !Array.isArray(result.body)) {
        this.scheduleReconnect();
        return;
      }
      this.epoch = result.headers.get('Huddle-Epoch');
      for (const message of result.body) this.renderMessage(message);
      this.historyLoaded = true;
    }
    this.openSocket();
  }

  openSocket() {
    const scheme = location.protocol === 'https:' ? 'wss' : 'ws';
    let url = `${scheme}://${location.host}/ws/${this.groupId}?echo=1&since=${this.lastId}`;
    if (this.epoch) url += `&epoch=${encodeURIComponent(this.epoch)}`;
    const socket = new WebSocket(url);
    this.socket = socket;
    this.welcomed = false;
    this.later(WELCOME_TIMEOUT_MS, () => {
      if (this.socket === socket && !this.welcomed) socket.close(4000, 'no welcome');
    });
    socket.onmessage = (event) => this.onFrame(event.data);
    socket.onclose = (event) => {
      if (this.socket !== socket) return;
      this.socket = null;
      this.onClose(event);
    };
  }

  onFrame(data) {
    let frame;
    try {
      frame = JSON.parse(data);
    } catch {
      return; // the server only sends JSON objects; ignore anything else
    }
    switch (frame.type) {
      case 'welcome':
        this.welcomed = true;
        this.attempt = 0;
        this.clearTimers(); // the welcome timeout
        if (typeof frame.user === 'string') this.me = frame.user;
        this.online = new Set(Array.isArray(frame.members) ? frame.members : []);
        this.renderMembers();
        if (frame.reset) {
          // The ids shown belong to a history the server can no longer vouch for (it was
          // replaced, restored, or restarted after a crash): rebuild the view from it.
          this.reload('The conversation was reloaded: the server could not continue it.');
          return;
        }
        if (frame.truncated) {
          // The replay left a gap (over the server's replay limit, or removed by retention):
          // show the newest page instead of a view with a hole in it.
          this.reload('Many messages arrived while you were away: showing the latest.');
          return;
        }
        if (typeof frame.epoch === 'string') this.epoch = frame.epoch;
        this.setState('online', 'Online');
        break;
      case 'message':
        this.renderMessage(frame);
        break;
      case 'join':
        this.online.add(frame.user);
        this.renderMembers();
        break;
      case 'leave':
        this.online.delete(frame.user);
        this.renderMembers();
        break;
      case 'ack':
        // With echo=1 the message itself comes back through the stream, in id order,
        // which is what renders it; the ack needs nothing more.
        break;
      case 'error':
        this.showNotice(`The server refused a message: ${frame.detail || frame.code}`);
        break;
      default:
        break; // newer servers may add frame types
    }
  }

  // Drops what is shown and starts again from the history API, as when the group was opened.
  reload(notice) {
    const socket = this.socket;
    this.socket = null;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      socket.close(1000);
    }
    ui.messages.replaceChildren();
    this.seen.clear();
    this.lastId = 0;
    this.epoch = null;
    this.historyLoaded = false;
    this.showNotice(notice);
    this.connect();
  }

  async onClose(event) {
    if (this.stopped) return;
    this.setSendable(false);
    // Who is online is unknown until the next welcome; showing the old list would mislead.
    this.online.clear();
    this.renderMembers();
    if (!this.welcomed) {
      // A refused handshake (401/403) reaches JS only as a 1006 close; the members
      // endpoint applies the same checks and tells us which it was.
      this.setState('connecting', 'Connecting…');
      let result = null;
      try {
        result = await api('GET', `/api/groups/${this.groupId}/members`);
      } catch {
        // Server unreachable: plain reconnect.
      }
      if (this.stopped) return;
      if (result && this.handleRefusal(result.status)) return;
      this.scheduleReconnect();
      return;
    }
    if (event.code === 1008 && event.reason === 'token expired') {
      showLogin('Your session expired. Please sign in again.');
      return;
    }
    if (event.code === 1008 && event.reason === 'access revoked') {
      this.denyAccess('Your access to this group was revoked.');
      return;
    }
    if (event.code === 1009) {
      this.showNotice('That message was too large for the server; it was not sent.');
    }
    // 1001 (server restart), "slow consumer", a network drop, anything else: come back.
    this.scheduleReconnect();
  }

  // 401/403 from the API: true when handled (the view stops reconnecting).
  handleRefusal(status) {
    if (status === 401) {
      showLogin('Please sign in again.');
      return true;
    }
    if (status === 403) {
      this.denyAccess('You are not a member of this group.');
      return true;
    }
    return false;
  }

  denyAccess(message) {
    this.stop();
    // Nothing of the group is shown to someone who may not see it.
    ui.chatBody.hidden = true;
    ui.composer.hidden = true;
    ui.messages.replaceChildren();
    ui.accessError.textContent = message;
    ui.accessError.hidden = false;
    this.setState('offline', 'Offline');
  }

  // Exponential backoff with "equal jitter": half the window fixed, half random, so
  // clients dropped together by a server restart do not all come back at the same instant.
  scheduleReconnect() {
    if (this.stopped) return;
    const span = Math.min(BACKOFF_CAP_MS, BACKOFF_FIRST_MS * 2 ** this.attempt);
    this.attempt = Math.min(this.attempt + 1, 16);
    const delay = span / 2 + Math.random() * (span / 2);
    const due = Date.now() + delay;
    const label = () => {
      if (navigator.onLine === false) {
        // No network at all: say so; the 'online' event retries at once (retryNow).
        this.setState('offline', 'Offline', ' (no network)');
        return;
      }
      const seconds = Math.max(1, Math.ceil((due - Date.now()) / 1000));
      this.setState('reconnecting', 'Reconnecting', ` in ${seconds} s`);
    };
    label();
    this.every(1000, label);
    this.waiting = true;
    this.later(delay, () => this.connect());
  }

  // The browser says the network is back: skip the rest of the backoff.
  retryNow() {
    if (!this.stopped && this.waiting) {
      this.attempt = 0;
      this.connect();
    }
  }

  send(text) {
    if (!this.socket || !this.welcomed || this.socket.readyState !== WebSocket.OPEN) return false;
    const ref = `c${this.nextRef++}`;
    this.socket.send(JSON.stringify({ type: 'message', text, ref }));
    return true;
  }

  showNotice(text) {
    ui.notice.textContent = text;
    ui.notice.hidden = false;
  }

  renderMessage(message) {
    if (typeof message.id !== 'number' || this.seen.has(message.id)) return;
    this.seen.add(message.id);
    this.lastId = Math.max(this.lastId, message.id);

    // Keep the view pinned to the bottom only if the reader was already there.
    const list = ui.messages;
    const pinned = list.scrollHeight - list.scrollTop - list.clientHeight < 40;

    const li = document.createElement('li');
    li.dataset.testid = 'message';
    li.dataset.id = String(message.id);
    if (message.from === this.me) li.classList.add('mine');

    const from = document.createElement('span');
    from.className = 'from';
    from.dataset.testid = 'message-from';
    from.textContent = message.from ?? '';

    const time = document.createElement('time');
    time.dataset.testid = 'message-time';
    const when = new Date(message.ts);
    if (!Number.isNaN(when.getTime())) {
      time.dateTime = when.toISOString();
      time.title = when.toLocaleString();
      // The time of day alone for today's messages, with the date for older ones.
      const today = when.toDateString() === new Date().toDateString();
      time.textContent = today
        ? when.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
        : when.toLocaleString([], { dateStyle: 'short', timeStyle: 'short' });
    }

    const text = document.createElement('p');
    text.className = 'text';
    text.dataset.testid = 'message-text';
    text.textContent = message.text ?? '';

    li.append(from, time, text);
    list.append(li);
    if (pinned) list.scrollTop = list.scrollHeight;
  }

  renderMembers() {
    const names = new Set(this.online);
    if (this.me) names.add(this.me);
    ui.members.replaceChildren();
    for (const name of [...names].sort()) {
      const li = document.createElement('li');
      li.dataset.testid = 'member';
      li.dataset.user = name;
      li.textContent = name === this.me ? `${name} (you)` : name;
      ui.members.append(li);
    }
  }
}

// ---- Composer ---------------------------------------------------------------------------

function submitComposer() {
  const text = ui.composerText.value;
  if (!chat || text.trim() === '') return;
  // The text stays in the box when it could not be sent (offline), so nothing is lost.
  if (chat.send(text)) ui.composerText.value = '';
}

ui.composer.addEventListener('submit', (event) => {
  event.preventDefault();
  submitComposer();
});

ui.composerText.addEventListener('keydown', (event) => {
  // Enter sends; Shift+Enter inserts a newline; Enter while an IME is composing
  // (e.g. Japanese input) confirms the composition and must not send.
  if (event.key === 'Enter' && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    submitComposer();
  }
});

loadSession();
