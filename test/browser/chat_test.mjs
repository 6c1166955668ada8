// Browser test of huddle's web client: two users chat in headless Chromium through the page
// the binary embeds, with the real server, accounts and WebSocket.
//
// Usage: node chat_test.mjs path/to/huddle   (meson: `meson test --suite browser`)
//
// It creates alice, bob (members of group 1 "General") and carol (no group) with the CLI in
// a temporary directory, starts `huddle serve` on an ephemeral loopback port, and checks:
// the assets' content types; a wrong password shows a login error; alice and bob log in,
// see group 1, open it, see each other online and exchange messages (Enter sends, Shift+Enter
// is a newline); markup in a message is shown as text, no element made and no script run;
// a reload keeps the view and repeats no message; after a server restart both reconnect by
// themselves with ?since= and no message is lost or shown twice; carol does not see group 1
// and gets the access error when she opens it; a member whose access is revoked while
// connected is told so; logout returns to the login form; with --auth none the page skips
// the login and a guest can chat. The server runs with --deflate: Chromium negotiates
// permessage-deflate, and a long message (compressed both ways) arrives whole. Then the main
// path once more over https (certificates from test/tls/make-test-certs, Chromium ignoring
// the test CA's errors): alice and bob log in, open a group over wss and chat, and the login
// cookie is Secure there (and not over http, where it would never come back).
// Screenshots in test/browser/out/: chat.png (alice's chat), login-error.png,
// reconnecting.png, access-error.png.
// Every wait is bounded, and a watchdog ends the run, so it cannot hang; the server and
// Chromium are stopped in `finally`.

import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

const WAIT_MS = 10_000; // any single UI expectation
const RECONNECT_WAIT_MS = 20_000; // a reconnect, whose backoff has random jitter
const WATCHDOG_MS = 160_000; // the whole run; meson's own timeout is 180 s
const CHROMIUM = '/usr/bin/chromium';
const PASSWORDS = { alice: 'alice-secret-1', bob: 'bob-secret-22', carol: 'carol-secret-333' };
const LOGIN_COOKIE = 'huddle_token';

const here = dirname(fileURLToPath(import.meta.url));
const makeTestCerts = join(here, '..', 'tls', 'make-test-certs');
const outDir = join(here, 'out');

if (process.argv.length < 3) {
  console.error('usage: node chat_test.mjs path/to/huddle');
  process.exit(2);
}
const huddle = resolve(process.argv[2]);

let passed = 0;
function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  passed++;
  console.log(`ok ${passed} - ${what}`);
}

// ---- The server and its accounts ---------------------------------------------------------

function cli(args, input) {
  const result = spawnSync(huddle, args, { input: input ?? '', encoding: 'utf8', timeout: 30_000 });
  if (result.error) throw new Error(`huddle ${args.join(' ')}: ${result.error.message}`);
  if (result.status !== 0) {
    throw new Error(
      `huddle ${args.join(' ')} exited ${result.status}: ` +
        (result.stderr.trim() || result.stdout.trim()),
    );
  }
}

// Starts `huddle serve`; resolves to { process, port } once it printed "listening on".
function startServer(db, port, extra = []) {
  const child = spawn(
    huddle,
    ['serve', '--db', db, '--address', '127.0.0.1', '--port', String(port), ...extra],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let logTail = '';
  const keep = (chunk) => {
    logTail = (logTail + chunk).slice(-4000);
  };
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', keep);
  return new Promise((resolvePromise, reject) => {
    let stdout = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`huddle serve printed no "listening on" within ${WAIT_MS} ms:\n${logTail}`));
    }, WAIT_MS);
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk) => {
      keep(chunk);
      stdout += chunk;
      const match = /listening on 127\.0\.0\.1:(\d+)/.exec(stdout);
      if (match) {
        clearTimeout(timer);
        child.stdout.removeAllListeners('data');
        child.stdout.on('data', keep);
        resolvePromise({ process: child, port: Number(match[1]), log: () => logTail });
      }
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`huddle serve exited (${code ?? signal}) before listening:\n${logTail}`));
    });
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
  });
}

// SIGTERM by PID, then SIGKILL if it has not exited within 5 s.
async function stopServer(server) {
  const child = server.process;
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
  await exited;
  clearTimeout(timer);
}

// ---- Page helpers ------------------------------------------------------------------------

const byId = (testid) => `[data-testid="${testid}"]`;

async function newUserPage(browser, base, problems, name, contextOptions = {}) {
  const context = await browser.newContext({
    viewport: { width: 900, height: 640 },
    ...contextOptions,
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT_MS);
  page.setDefaultNavigationTimeout(WAIT_MS);
  // Any dialog means a message's markup ran as script: record it (and dismiss it).
  page.on('dialog', (dialog) => {
    problems.push(`${name}: a dialog opened: ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('pageerror', (error) => problems.push(`${name}: page error: ${error.message}`));
  await page.goto(`${base}/`);
  return page;
}

async function logIn(page, user, password) {
  await page.locator(byId('login-view')).waitFor({ state: 'visible' });
  await page.fill(byId('login-username'), user);
  await page.fill(byId('login-password'), password);
  await page.click(byId('login-submit'));
}

async function openGroup(page, id) {
  await page.click(`${byId('group-link')}[data-group-id="${id}"]`);
  await waitOnline(page, WAIT_MS);
}

async function waitOnline(page, timeout) {
  await page.locator(`${byId('connection-state')}[data-state="online"]`).waitFor({ timeout });
}

async function waitMember(page, user) {
  await page.locator(`${byId('members')} [data-user="${user}"]`).waitFor({ state: 'attached' });
}

async function waitText(page, text) {
  await page.waitForFunction(
    (wanted) =>
      [...document.querySelectorAll('[data-testid="message-text"]')].some(
        (e) => e.textContent === wanted,
      ),
    text,
    { timeout: WAIT_MS },
  );
}

// Types like a person: the text, then Enter.
async function send(page, text) {
  const box = page.locator(byId('composer-text'));
  await box.click();
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (i > 0) await box.press('Shift+Enter');
    await box.pressSequentially(lines[i]);
  }
  await box.press('Enter');
}

async function messageIds(page) {
  return page.$$eval(byId('message'), (items) => items.map((li) => Number(li.dataset.id)));
}

function unique(list) {
  return new Set(list).size === list.length;
}

async function loginCookie(page) {
  return (await page.context().cookies()).find((cookie) => cookie.name === LOGIN_COOKIE);
}

// ---- The test ----------------------------------------------------------------------------

async function run(state) {
  const dir = mkdtempSync(join(tmpdir(), 'huddle-browser-'));
  state.dir = dir;
  const db = join(dir, 'huddle.db');

  for (const [user, password] of Object.entries(PASSWORDS)) {
    cli(['user', 'add', user, '--password-stdin', '--db', db], `${password}\n`);
  }
  cli(['group', 'add', '1', '--title', 'General', '--db', db]);
  cli(['group', 'grant', '1', 'alice', '--db', db]);
  cli(['group', 'grant', '1', 'bob', '--db', db]);

  mkdirSync(outDir, { recursive: true });
  state.server = await startServer(db, 0, ['--deflate']);
  const port = state.server.port;
  const base = `http://127.0.0.1:${port}`;

  // The embedded assets, with their content types.
  for (const [path, type] of [
    ['/', 'text/html'],
    ['/app.js', 'text/javascript'],
    ['/style.css', 'text/css'],
  ]) {
    const response = await fetch(base + path, { signal: AbortSignal.timeout(WAIT_MS) });
    const contentType = response.headers.get('content-type') ?? '';
    check(
      response.status === 200 && contentType.startsWith(type),
      `GET ${path} is 200 ${type} (got ${response.status} ${contentType})`,
    );
  }

  state.browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    timeout: 30_000,
    args: [
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  const browser = state.browser;
  const problems = [];

  // A wrong password: an error on the form, still logged out.
  const stranger = await newUserPage(browser, base, problems, 'stranger');
  await logIn(stranger, 'alice', 'not-the-password');
  await stranger.locator(byId('login-error')).waitFor({ state: 'visible' });
  const loginError = await stranger.textContent(byId('login-error'));
  check(/wrong/i.test(loginError), `a wrong password shows a login error ("${loginError}")`);
  check(await stranger.isVisible(byId('login-view')), 'a wrong password stays on the login form');
  await stranger.screenshot({ path: join(outDir, 'login-error.png') });
  await stranger.context().close();

  // alice and bob log in, each in a context of their own (separate cookies).
  const alice = await newUserPage(browser, base, problems, 'alice');
  await logIn(alice, 'alice', PASSWORDS.alice);
  await alice.locator(`${byId('group-link')}[data-group-id="1"]`).waitFor();
  check(
    (await alice.textContent(`${byId('group-link')}[data-group-id="1"]`)) === 'General',
    'alice sees group 1 "General" in her list',
  );
  check((await alice.textContent(byId('whoami'))) === 'alice', 'the header names alice');
  const plainCookie = await loginCookie(alice);
  check(
    plainCookie !== undefined && plainCookie.httpOnly && !plainCookie.secure,
    'over http the login cookie is HttpOnly and not Secure',
  );
  await openGroup(alice, 1);
  check(alice.url().endsWith('#/groups/1'), 'the chat view has the route #/groups/1');

  const bob = await newUserPage(browser, base, problems, 'bob');
  await logIn(bob, 'bob', PASSWORDS.bob);
  await openGroup(bob, 1);
  await waitMember(bob, 'alice');
  check(true, 'bob sees alice online (welcome.members)');
  await waitMember(alice, 'bob');
  check(true, 'alice sees bob come online (join)');

  // Messages both ways; each sender sees its own too (echo=1).
  await send(alice, 'hello from alice');
  await waitText(bob, 'hello from alice');
  await waitText(alice, 'hello from alice');
  check(true, "bob receives alice's message, and alice sees it once sent");
  await send(bob, 'hi alice, bob here');
  await waitText(alice, 'hi alice, bob here');
  check(true, "alice receives bob's reply");
  check(
    (await alice.inputValue(byId('composer-text'))) === '',
    'the composer is emptied after sending',
  );
  const lastFrom = await alice.$$eval(byId('message-from'), (e) => e.at(-1)?.textContent);
  check(lastFrom === 'bob', `the sender is shown ("${lastFrom}")`);
  const lastTime = await alice.$$eval(byId('message-time'), (e) => e.at(-1)?.dateTime ?? '');
  check(!Number.isNaN(Date.parse(lastTime)), `the time is shown (datetime "${lastTime}")`);

  const long = `compressed both ways: ${'the quarterly numbers are in. '.repeat(12).trim()}`;
  await send(bob, long);
  await waitText(alice, long);
  check(true, 'a long message (compressed by Chromium, then by the server) arrives whole');

  await send(alice, 'line one\nline two');
  await waitText(bob, 'line one\nline two');
  check(true, 'Shift+Enter makes a newline inside one message');

  // Markup is text: no element is created and no handler runs.
  const markup = '<img src=x onerror=alert(1)>';
  await send(alice, markup);
  await waitText(bob, markup);
  await waitText(alice, markup);
  const images =
    (await bob.locator(`${byId('messages')} img`).count()) +
    (await alice.locator(`${byId('messages')} img`).count());
  check(images === 0, 'a message with <img onerror> is shown as literal text, no img element');

  // --deflate: Chromium offers permessage-deflate and gets it (the 101 as DevTools saw it,
  // for the connection bob's reload opens); a long message, compressed both ways, is whole.
  const devtools = await bob.context().newCDPSession(bob);
  await devtools.send('Network.enable');
  const answered = [];
  devtools.on('Network.webSocketHandshakeResponseReceived', (event) => {
    const headers = event.response.headers;
    const name = Object.keys(headers).find((k) => k.toLowerCase() === 'sec-websocket-extensions');
    answered.push(name ? headers[name] : '');
  });

  // A reload keeps the view (hash route) and shows the history once.
  const before = await messageIds(bob);
  await bob.reload();
  await waitOnline(bob, WAIT_MS);
  check(
    answered.length > 0 && answered.at(-1).startsWith('permessage-deflate'),
    `Chromium negotiates permessage-deflate (answered "${answered.at(-1)}")`,
  );
  await devtools.detach();
  await waitText(bob, markup);
  const afterReload = await messageIds(bob);
  check(bob.url().endsWith('#/groups/1'), 'a reload stays on #/groups/1');
  check(
    JSON.stringify(afterReload) === JSON.stringify(before),
    `after a reload the history is the same messages, once each (${afterReload.length})`,
  );

  // The server restarts on the same port and file: both pages say so, come back by
  // themselves, and the next messages arrive with nothing lost or doubled.
  await stopServer(state.server);
  const connState = byId('connection-state');
  await alice
    .locator(`${connState}:is([data-state="reconnecting"], [data-state="connecting"])`)
    .waitFor();
  check(true, 'alice sees the connection drop (reconnecting)');
  await alice.screenshot({ path: join(outDir, 'reconnecting.png') });
  check(
    (await alice.locator(`${byId('members')} [data-user="bob"]`).count()) === 0,
    'while disconnected, bob is no longer listed online',
  );
  state.server = await startServer(db, port, ['--deflate']);
  await waitOnline(alice, RECONNECT_WAIT_MS);
  await waitOnline(bob, RECONNECT_WAIT_MS);
  check(true, 'after a server restart both reconnect by themselves');
  await waitMember(alice, 'bob');
  await waitMember(bob, 'alice');
  await send(bob, 'after the restart');
  await send(alice, 'welcome back');
  // Each page shows its own messages only once they come back through the stream (echo=1).
  for (const page of [alice, bob]) {
    await waitText(page, 'after the restart');
    await waitText(page, 'welcome back');
  }
  const aliceIds = await messageIds(alice);
  const bobIds = await messageIds(bob);
  check(
    unique(aliceIds) && unique(bobIds) && JSON.stringify(aliceIds) === JSON.stringify(bobIds),
    `after reconnecting both show the same ${bobIds.length} messages, each once ` +
      `(alice ${JSON.stringify(aliceIds)}, bob ${JSON.stringify(bobIds)})`,
  );
  check(
    aliceIds.every((id, i) => i === 0 || aliceIds[i - 1] < id),
    'messages are in increasing id order',
  );

  // carol is no member: no group 1 in her list, and the access error when she goes there.
  const carol = await newUserPage(browser, base, problems, 'carol');
  await logIn(carol, 'carol', PASSWORDS.carol);
  await carol.locator(byId('groups-view')).waitFor({ state: 'visible' });
  check(
    (await carol.locator(`${byId('group-link')}[data-group-id="1"]`).count()) === 0,
    'carol does not see group 1 in her list',
  );
  await carol.evaluate(() => {
    location.hash = '#/groups/1';
  });
  await carol.locator(byId('access-error')).waitFor({ state: 'visible' });
  const accessError = await carol.textContent(byId('access-error'));
  check(/not a member/i.test(accessError), `carol gets the access error ("${accessError}")`);
  check(
    (await carol.getAttribute(byId('connection-state'), 'data-state')) === 'offline',
    'the refused view stops reconnecting (offline)',
  );
  await carol.screenshot({ path: join(outDir, 'access-error.png') });

  // bob's membership is revoked while he is in the group: the server closes his socket
  // (1008 "access revoked"), his page says so and stops; alice sees him leave.
  cli(['group', 'revoke', '1', 'bob', '--db', db]);
  await bob.locator(byId('access-error')).waitFor({ state: 'visible' });
  const revoked = await bob.textContent(byId('access-error'));
  check(/revoked/i.test(revoked), `a revoked member is told so ("${revoked}")`);
  check(
    (await bob.getAttribute(connState, 'data-state')) === 'offline' &&
      (await bob.locator(byId('message')).count()) === 0,
    'the revoked view stops reconnecting and no longer shows the messages',
  );
  await alice.locator(`${byId('members')} [data-user="bob"]`).waitFor({ state: 'detached' });
  check(true, 'alice sees bob leave');
  check(
    (await carol.locator(byId('message')).count()) === 0 &&
      !(await carol.isVisible(byId('composer'))),
    'carol sees none of the group messages and no composer',
  );

  // The screenshot of alice's chat, for a person to look at.
  await alice.screenshot({ path: join(outDir, 'chat.png') });

  // Logout clears the cookie: a reload stays on the login form.
  await alice.click(byId('logout'));
  await alice.locator(byId('login-view')).waitFor({ state: 'visible' });
  await alice.reload();
  await alice.locator(byId('login-view')).waitFor({ state: 'visible' });
  check(true, 'after logout a reload shows the login form');

  // --auth none (development): no login form, every group listed, a guest name.
  await stopServer(state.server);
  state.server = await startServer(db, 0, ['--auth', 'none']);
  const guestBase = `http://127.0.0.1:${state.server.port}`;
  const guest = await newUserPage(browser, guestBase, problems, 'guest');
  await guest.locator(`${byId('group-link')}[data-group-id="1"]`).waitFor();
  check(
    !(await guest.isVisible(byId('login-view'))) && !(await guest.isVisible(byId('logout'))),
    'with --auth none the groups show without a login form or logout button',
  );
  await openGroup(guest, 1);
  await waitText(guest, 'welcome back');
  await send(guest, 'hello as a guest');
  await waitText(guest, 'hello as a guest');
  const guestFrom = await guest.$$eval(byId('message-from'), (e) => e.at(-1)?.textContent);
  check(/^guest-/.test(guestFrom), `with --auth none a guest chats as ${guestFrom}`);

  await stopServer(state.server);
  await overHttps(state, db, problems);

  check(problems.length === 0, `no dialog and no page error (${problems.join('; ') || 'none'})`);
}

// The main path once more, over https and wss: `huddle serve --tls-cert --tls-key` with the
// test certificates, each context ignoring the certificate errors of the test CA.
async function overHttps(state, db, problems) {
  const certs = join(state.dir, 'certs');
  const made = spawnSync(makeTestCerts, [certs], { encoding: 'utf8', timeout: 30_000 });
  if (made.status !== 0) throw new Error(`make-test-certs failed: ${made.stderr}`);
  cli(['group', 'add', '2', '--title', 'Over TLS', '--db', db]);
  cli(['group', 'grant', '2', 'alice', '--db', db]);
  cli(['group', 'grant', '2', 'bob', '--db', db]);
  state.server = await startServer(db, 0, [
    '--deflate',
    '--tls-cert',
    join(certs, 'server.pem'),
    '--tls-key',
    join(certs, 'server.key'),
  ]);
  const base = `https://127.0.0.1:${state.server.port}`;
  const sockets = [];
  const pages = {};
  for (const user of ['alice', 'bob']) {
    const page = await newUserPage(state.browser, base, problems, `${user} (https)`, {
      ignoreHTTPSErrors: true,
    });
    page.on('websocket', (socket) => sockets.push(socket.url()));
    await logIn(page, user, PASSWORDS[user]);
    await openGroup(page, 2);
    pages[user] = page;
  }
  const { alice, bob } = pages;
  check(alice.url().startsWith('https://'), `the page is served over https (${alice.url()})`);
  await waitMember(alice, 'bob');
  await waitMember(bob, 'alice');
  await send(alice, 'hello over TLS');
  await waitText(bob, 'hello over TLS');
  await send(bob, 'encrypted reply');
  await waitText(alice, 'encrypted reply');
  check(true, 'over https alice and bob log in, open group 2 and chat');
  check(
    sockets.length >= 2 && sockets.every((url) => url.startsWith('wss://127.0.0.1:')),
    `the page's WebSockets are wss (${sockets.join(', ')})`,
  );
  const cookie = await loginCookie(alice);
  check(
    cookie !== undefined && cookie.secure && cookie.httpOnly,
    `over https the login cookie is Secure and HttpOnly (secure ${cookie?.secure}, ` +
      `httpOnly ${cookie?.httpOnly})`,
  );
}

const state = { server: null, browser: null, dir: null };
const watchdog = setTimeout(() => {
  console.error(`FAIL: the test did not finish within ${WATCHDOG_MS / 1000} s`);
  if (state.server) state.server.process.kill('SIGKILL');
  process.exit(1);
}, WATCHDOG_MS);
watchdog.unref();

let failure = null;
try {
  await run(state);
} catch (error) {
  failure = error;
} finally {
  if (state.browser) {
    await Promise.race([state.browser.close(), new Promise((r) => setTimeout(r, 10_000))]).catch(
      () => {},
    );
  }
  if (state.server) {
    if (failure) console.error(`server log (tail):\n${state.server.log()}`);
    await stopServer(state.server).catch(() => {});
  }
  if (state.dir) rmSync(state.dir, { recursive: true, force: true });
}

if (failure) {
  console.error(`FAIL: ${failure.stack || failure.message}`);
  console.log(`browser_chat: ${passed} passed, 1 failed`);
  process.exit(1);
}
console.log(`browser_chat: ${passed} passed, 0 failed`);
process.exit(0);
