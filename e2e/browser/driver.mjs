// Drives one headless Debian Chromium for frontrow's Go end-to-end tests
// (e2e/browser_test.go). The Go test owns the process: it writes one JSON
// command per line on stdin and reads one JSON line per reply or event on
// stdout. Closing stdin closes the browser and ends the process.
//
//   usage: node driver.mjs USER-DATA-DIR
//   -> {"id":1,"op":"open","url":"http://127.0.0.1:PORT/"}       <- {"id":1,"result":{"page":1}}
//   -> {"id":2,"op":"call","page":1,"fn":"publish","arg":{...}}   <- {"id":2,"result":...}
//   -> {"id":3,"op":"close","page":1}                             <- {"id":3,"result":null}
//   -> {"id":4,"op":"screenshot","page":1,"path":"/tmp/x.png"}    <- {"id":4,"result":null}
// "open" takes an optional "viewport" ({"width":390,"height":844}, CSS
// pixels) for that tab; the default is 1280x720.
//   <- {"event":"console","page":1,"text":"..."}  (page console, page errors)
//
// "call" runs window.frontrowTest[fn](arg) in the page and returns what its
// promise resolves to; page/harness.js defines those functions and is
// installed in every page before the page's own scripts run. Commands run
// concurrently; each bounds its own waits (the harness takes timeoutMs).
import { chromium } from 'playwright-core';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

// Debian's package; playwright-core never downloads a browser of its own.
const CHROMIUM = process.env.FRONTROW_CHROMIUM || '/usr/bin/chromium';
const HARNESS = fileURLToPath(new URL('./page/harness.js', import.meta.url));

// Flags from shared/TESTING.md: headless as root, no background traffic,
// fake camera and microphone granted without a prompt, autoplay with sound,
// real host candidates (no mDNS names) so ICE works on loopback.
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--use-fake-device-for-media-stream',
  '--use-fake-ui-for-media-stream',
  '--autoplay-policy=no-user-gesture-required',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
];

const userDataDir = process.argv[2];
if (!userDataDir) {
  process.stderr.write('usage: node driver.mjs USER-DATA-DIR\n');
  process.exit(2);
}

function send(msg) {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

const context = await chromium.launchPersistentContext(userDataDir, {
  executablePath: CHROMIUM,
  headless: true,
  args: ARGS,
  // playwright mutes audio by default; the tests read the received audio's
  // energy, which Chromium computes from what it plays out.
  ignoreDefaultArgs: ['--mute-audio'],
  permissions: ['camera', 'microphone'],
  viewport: { width: 1280, height: 720 },
});
await context.addInitScript({ path: HARNESS });

const pages = new Map();
let nextPage = 1;

const ops = {
  async open({ url, viewport }) {
    const page = await context.newPage();
    if (viewport) await page.setViewportSize(viewport);
    const id = nextPage++;
    pages.set(id, page);
    page.on('console', (m) => send({ event: 'console', page: id, text: `${m.type()}: ${m.text()}` }));
    page.on('pageerror', (e) => send({ event: 'console', page: id, text: `pageerror: ${e.message}` }));
    await page.goto(url, { waitUntil: 'load' });
    return { page: id };
  },
  async call({ page, fn, arg }) {
    return pageOf(page).evaluate(([f, a]) => window.frontrowTest[f](a), [fn, arg ?? null]);
  },
  async screenshot({ page, path }) {
    await pageOf(page).screenshot({ path });
    return null;
  },
  async close({ page }) {
    const p = pageOf(page);
    pages.delete(page);
    // runBeforeUnload lets the page's pagehide handlers DELETE its sessions.
    await p.close({ runBeforeUnload: true });
    return null;
  },
};

function pageOf(id) {
  const p = pages.get(id);
  if (!p) throw new Error(`no page ${id}`);
  return p;
}

let closing = null;
function shutdown() {
  closing ??= context.close().catch(() => {}).then(() => process.exit(0));
  return closing;
}

const lines = createInterface({ input: process.stdin });
lines.on('line', async (line) => {
  let cmd;
  try {
    cmd = JSON.parse(line);
  } catch (err) {
    send({ event: 'console', page: 0, text: `driver: bad command: ${err.message}` });
    return;
  }
  try {
    const op = ops[cmd.op];
    if (!op) throw new Error(`unknown op ${cmd.op}`);
    send({ id: cmd.id, result: (await op(cmd)) ?? null });
  } catch (err) {
    send({ id: cmd.id, error: String(err && err.message ? err.message : err) });
  }
});
lines.on('close', shutdown);
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
send({ event: 'ready' });
