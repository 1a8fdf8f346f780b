'use strict';

/**
 * A stand-in for the Chromium that puppeteer launches for every WhatsApp
 * session. It does not render anything; it reproduces what the bot sees of a
 * real Chromium (Debian Chromium under puppeteer 24) on the host. Every
 * process of the tree runs this script; the first argument after it that
 * starts with `--type=` says which part it plays, as in Chromium:
 *
 *  (no --type)              the browser main process, started by the service
 *                           with `detached: true` (own session and process
 *                           group, as puppeteer does) and puppeteer's flags,
 *                           `--user-data-dir=<auth dir>/session-<id>` among
 *                           them. Takes the profile lock
 *                           (SingletonLock/SingletonSocket/SingletonCookie
 *                           symlinks in the user data dir), writes a few
 *                           profile files, starts its children and the crash
 *                           handlers, then prints `DevTools listening on
 *                           ws://...` on stderr, which is what puppeteer waits
 *                           for: when the service sees it, the whole tree
 *                           exists. On SIGTERM/SIGINT/SIGHUP it stops its
 *                           children, removes its lock symlinks and exits 0.
 *                           A SIGKILL leaves the symlinks behind (stale locks).
 *  --type=zygote, --type=gpu-process, --type=utility, --type=renderer
 *                           the children (FAKE_CHROMIUM_CHILDREN of them, 6 by
 *                           default: two zygotes, the GPU process, the network
 *                           and storage services, a renderer), in the
 *                           browser's process group. Renderers are forked by
 *                           the sandboxed zygote when there is one (as in
 *                           Chromium), else by the browser. Each child's
 *                           stdin is a pipe from its parent, standing in for
 *                           Chromium's IPC channel: when the parent is gone
 *                           the pipe closes and the child exits at once.
 *  --type=crashpad-launcher the intermediate of chrome_crashpad_handler's
 *                           double fork: starts the two handlers, each in a
 *                           new session, and exits at once, so the handlers
 *                           are re-parented to init (or the nearest
 *                           subreaper).
 *  --type=crashpad-handler  watches its browser. It exits after a graceful
 *                           browser exit (the browser removes its socket
 *                           directory, which is the signal); after a browser
 *                           crash or SIGKILL it lingers as an orphan, as the
 *                           real handler often does. Its argv carries
 *                           `--database=<user-data-dir>/Crash Reports`, not
 *                           `--user-data-dir`, like the real handler's.
 *
 * Environment: FAKE_CHROMIUM_CHILDREN (0..10, default 6) is the number of
 * children of each browser; FAKE_CHROMIUM_RSS_MB (default 0) makes each
 * browser main process allocate and touch that many MiB. Every process
 * inherits the environment unchanged, so a marker variable put into the
 * service's environment by its supervisor is visible in /proc/<pid>/environ
 * of each of them.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

/** Exit code of Chromium when the profile is locked by another process. */
const EXIT_PROFILE_IN_USE = 21;
/** How often a crash handler looks at its browser. */
const POLL_MS = 500;
/** How long a browser waits for its crash handlers and zygote to report. */
const HELPER_START_TIMEOUT_MS = 10000;
/** Bounds of FAKE_CHROMIUM_CHILDREN. */
const DEFAULT_CHILDREN = 6;
const MAX_CHILDREN = 10;
/** Upper bound of FAKE_CHROMIUM_RSS_MB, a guard against typos. */
const MAX_RSS_MB = 65536;

const SINGLETON_LINKS = ['SingletonLock', 'SingletonSocket', 'SingletonCookie'];

/** What Debian's Chromium passes to every child, besides --user-data-dir. */
const CRASH_REPORTER = '--enable-crash-reporter=,Debian';
const FIELD_TRIAL = '--field-trial-handle=3,i,7786158301617651925,12476296432513262791,262144';

/**
 * The children of a browser, in the order FAKE_CHROMIUM_CHILDREN takes them:
 * 1 gives the renderer alone (the process that holds a page's memory), 6 the
 * tree of a real headless Chromium with one page, 7 to 10 add renderers (more
 * tabs or service workers). `host: 'zygote'` marks what the sandboxed zygote
 * forks when it exists.
 */
const CHILDREN = [
  { args: ['--type=renderer', '--renderer-client-id=5'], host: 'zygote' },
  { args: ['--type=gpu-process', '--headless=new', '--gpu-preferences=UAAAAAAAAAAgAAAEAAAAAAAAAAAAAAAAAABgAAEAAAA4AAAAAAAAAAAAAAAAAAAAAgAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', '--use-gl=angle', '--use-angle=swiftshader-webgl'] },
  { args: ['--type=zygote', '--no-zygote-sandbox'] },
  { args: ['--type=zygote'], zygote: true },
  { args: ['--type=utility', '--utility-sub-type=network.mojom.NetworkService', '--lang=en-US', '--service-sandbox-type=none'] },
  { args: ['--type=utility', '--utility-sub-type=storage.mojom.StorageService', '--lang=en-US', '--service-sandbox-type=utility'] },
  { args: ['--type=renderer', '--renderer-client-id=6'], host: 'zygote' },
  { args: ['--type=renderer', '--renderer-client-id=7'], host: 'zygote' },
  { args: ['--type=renderer', '--renderer-client-id=8'], host: 'zygote' },
  { args: ['--type=renderer', '--renderer-client-id=9'], host: 'zygote' },
];

/** Parses `--key=value` arguments into an object (the first occurrence wins). */
function parseArgs(argv) {
  const args = {};
  for (const arg of argv) {
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (m && !(m[1] in args)) args[m[1]] = m[2];
  }
  return args;
}

/** Reads a bounded non-negative integer from the environment; the service validated it already. */
function envCount(name, fallback, max) {
  const raw = (process.env[name] || '').trim();
  if (!/^\d+$/.test(raw)) return fallback;
  return Math.min(Number(raw), max);
}

/** Directory holding the browser's SingletonSocket; its absence after the browser died means "graceful exit". */
function socketDirFor(browserPid) {
  return path.join(os.tmpdir(), `.fake-chromium-${browserPid}`);
}

/** True if pid is a running (non-zombie) process. */
function isAlive(pid) {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if (err.code !== 'EPERM') return false;
  }
  try {
    // /proc/<pid>/stat: "pid (comm) S ..." -- comm may contain spaces and parens.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return true; // no /proc: trust kill(pid, 0)
  }
}

/** Chromium's log prefix: `[pid:tid:MMDD/HHMMSS.micros:LEVEL:file(line)] `. */
function chromiumLogPrefix(level, where) {
  const d = new Date();
  const p2 = (n) => String(n).padStart(2, '0');
  const stamp =
    `${p2(d.getMonth() + 1)}${p2(d.getDate())}/${p2(d.getHours())}${p2(d.getMinutes())}${p2(d.getSeconds())}` +
    `.${String(d.getMilliseconds() * 1000).padStart(6, '0')}`;
  return `[${process.pid}:${process.pid}:${stamp}:${level}:${where}] `;
}

/** Writes to stderr, ignoring a closed pipe (the service may be gone). */
function writeStderr(text) {
  try {
    process.stderr.write(text);
  } catch {
    /* nobody listens any more */
  }
}
process.stderr.on('error', () => {});

/** Removes the three singleton symlinks of a profile, whatever they point at. */
function removeSingletonLinks(userDataDir) {
  for (const name of SINGLETON_LINKS) {
    fs.rmSync(path.join(userDataDir, name), { force: true });
  }
}

/** Reads SingletonLock (`<host>-<pid>`); null if missing or unparsable. */
function readLock(lockPath) {
  let target;
  try {
    target = fs.readlinkSync(lockPath);
  } catch {
    return null;
  }
  const m = /^(.*)-(\d+)$/.exec(target);
  return m ? { host: m[1], pid: Number(m[2]) } : { host: null, pid: null };
}

/**
 * Takes the profile lock the way Chromium's ProcessSingleton does: create the
 * SingletonLock symlink atomically; if it exists, refuse the profile when its
 * owner is alive on this host or lives on another host, otherwise (a stale
 * lock left by a killed browser on this host) remove the stale links and retry.
 */
function acquireProfileLock(userDataDir, hostname) {
  const lockPath = path.join(userDataDir, 'SingletonLock');
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      fs.symlinkSync(`${hostname}-${process.pid}`, lockPath);
      return;
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
    const owner = readLock(lockPath);
    if (owner === null) continue; // vanished meanwhile: try again
    const otherHost = owner.host !== null && owner.host !== hostname;
    const liveHere = owner.host === hostname && owner.pid !== process.pid && isAlive(owner.pid);
    if (otherHost || liveHere) {
      writeStderr(
        `${chromiumLogPrefix('ERROR', 'process_singleton_posix.cc(353)')}` +
          `The profile appears to be in use by another Chromium process (${owner.pid}) ` +
          `on another computer (${owner.host}). Chromium has locked the profile so that it ` +
          `doesn't get corrupted. If you are sure no other processes are using this profile, ` +
          `you can unlock the profile and relaunch Chromium.\n`,
      );
      process.exit(EXIT_PROFILE_IN_USE);
    }
    removeSingletonLinks(userDataDir); // stale lock on this host
  }
  throw new Error(`cannot acquire ${lockPath}`);
}

/** Writes the small profile files a real profile has; login data is kept across launches. */
function writeProfile(userDataDir, sessionId) {
  const profileDir = path.join(userDataDir, 'Default');
  const idbDir = path.join(profileDir, 'IndexedDB', 'https_web.whatsapp.com_0.indexeddb.leveldb');
  fs.mkdirSync(idbDir, { recursive: true });

  const writeIfMissing = (file, data) => {
    try {
      fs.writeFileSync(file, data, { flag: 'wx' });
    } catch (err) {
      if (err.code !== 'EEXIST') throw err;
    }
  };

  // Rewritten at every launch, like Chromium does.
  fs.writeFileSync(
    path.join(userDataDir, 'Local State'),
    `${JSON.stringify({ browser: { enabled_labs_experiments: [] }, profile: { last_used: 'Default' } })}\n`,
  );
  fs.writeFileSync(
    path.join(profileDir, 'Preferences'),
    `${JSON.stringify({
      profile: { name: 'Person 1', last_engagement_time: String(Date.now() * 1000) },
      sanasend: { session_id: sessionId },
    })}\n`,
  );

  // The "login": created once, so its age is the age of the saved session.
  const cookies = Buffer.alloc(4096);
  cookies.write('SQLite format 3\0', 0, 'latin1');
  writeIfMissing(path.join(profileDir, 'Cookies'), cookies);
  writeIfMissing(path.join(idbDir, 'CURRENT'), 'MANIFEST-000001\n');
  writeIfMissing(path.join(idbDir, '000003.log'), crypto.randomBytes(2048));
}

/** Starts a listener on a Unix socket, if the path allows it (the symlink may dangle otherwise). */
function listenUnix(socketPath) {
  return new Promise((resolve) => {
    const server = net.createServer((conn) => conn.destroy());
    server.once('error', () => resolve(null));
    server.listen(socketPath, () => resolve(server));
  });
}

/** Starts the DevTools listener on an ephemeral loopback port, as --remote-debugging-port=0 does. */
function listenDevTools() {
  return new Promise((resolve, reject) => {
    const server = net.createServer((conn) => conn.destroy());
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(server));
  });
}

/** Spawns this script again with the given arguments, never through a shell. */
function spawnSelf(args, options) {
  return spawn(process.execPath, [__filename, ...args], {
    env: process.env,
    shell: false,
    stdio: 'ignore',
    ...options,
  });
}

/**
 * Spawns a child whose stdin is a pipe from this process (its "IPC channel")
 * and resolves once it has been exec'd, so that it shows up in ps and /proc.
 * Never rejects: a child that cannot start is reported and left out.
 */
function spawnChild(args, stdout = 'ignore') {
  const child = spawnSelf(args, { stdio: ['pipe', stdout, 'ignore'] });
  child.stdin.on('error', () => {}); // the child died: nothing to tell it
  return new Promise((resolve) => {
    child.once('spawn', () => resolve(child));
    child.once('error', (err) => {
      writeStderr(`${chromiumLogPrefix('ERROR', 'child_process_launcher.cc(1)')}${args[0]}: ${err.message}\n`);
      resolve(null);
    });
  });
}

/** Resolves when `stream` yields a line, ends, or after a timeout; never rejects. */
function firstLine(stream, what) {
  return new Promise((resolve) => {
    let buf = '';
    const done = (line) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      resolve(line);
    };
    const timer = setTimeout(() => {
      writeStderr(`${chromiumLogPrefix('WARNING', 'fake_chromium.cc(2)')}${what} did not report\n`);
      done(null);
    }, HELPER_START_TIMEOUT_MS);
    stream.setEncoding('utf8');
    stream.on('data', (chunk) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl >= 0) done(buf.slice(0, nl));
    });
    stream.once('end', () => done(null));
    stream.once('error', () => done(null));
  });
}

/**
 * Starts the two crash handlers through the double-forking launcher and waits
 * until the launcher reports on a handshake descriptor (fd 3) that they exist,
 * or gives up after a while: a browser without crash reporting still works.
 */
function startCrashpad(userDataDir) {
  const launcher = spawnSelf(['--type=crashpad-launcher', `--database=${path.join(userDataDir, 'Crash Reports')}`, `--browser-pid=${process.pid}`], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  launcher.unref();
  launcher.once('error', () => {});
  return firstLine(launcher.stdio[3], 'crash handler').then(() => launcher.stdio[3].destroy());
}

/**
 * Makes the process hold `mb` MiB of touched memory (Buffer.allocUnsafe then
 * fill: every page is written, so it counts in RSS).
 */
function holdMemory(mb) {
  if (mb <= 0) return null;
  const chunks = [];
  for (let i = 0; i < mb; i++) chunks.push(Buffer.allocUnsafe(1 << 20).fill(0x5a));
  return chunks;
}

/** Launch flags of puppeteer 24 (a subset) and of the service, as the real browser's argv shows them. */
function childCommon(userDataDir) {
  return ['--no-sandbox', CRASH_REPORTER, `--user-data-dir=${userDataDir}`, '--change-stack-guard-on-fork=enable', FIELD_TRIAL];
}

/**
 * Starts the first `count` children of CHILDREN. Returns the direct children
 * (the zygote's renderers are the zygote's business).
 */
async function startChildren(count, userDataDir) {
  const specs = CHILDREN.slice(0, count);
  const zygoteSpec = specs.find((s) => s.zygote);
  const common = childCommon(userDataDir);
  const argsOf = (spec) => [spec.args[0], ...common, ...spec.args.slice(1)];

  const direct = specs.filter((s) => !(zygoteSpec && s.host === 'zygote'));
  const hosted = zygoteSpec ? specs.filter((s) => s.host === 'zygote') : [];
  const started = await Promise.all(
    direct.map((spec) => spawnChild(argsOf(spec), spec === zygoteSpec ? 'pipe' : 'ignore').then((child) => ({ spec, child }))),
  );
  const zygote = started.find((s) => s.spec === zygoteSpec);
  if (zygote && zygote.child) {
    // Tell the zygote what to fork over its channel, wait until it has.
    zygote.child.stdin.write(`${JSON.stringify({ fork: hosted.map(argsOf) })}\n`);
    await firstLine(zygote.child.stdout, 'zygote');
  }
  return started.map((s) => s.child).filter(Boolean);
}

async function runBrowser(args) {
  if (!args['user-data-dir']) {
    writeStderr('fake-chromium: --user-data-dir is required\n');
    process.exit(1);
  }
  const userDataDir = path.resolve(args['user-data-dir']);
  // LocalAuth names the dir session-<clientId>; the id only goes into Preferences.
  const sessionId = path.basename(userDataDir).replace(/^session-/, '');
  const hostname = os.hostname();

  fs.mkdirSync(path.join(userDataDir, 'Default'), { recursive: true });
  acquireProfileLock(userDataDir, hostname);

  // From here on, a signal must release the profile.
  let children = [];
  let socketServer = null;
  const socketDir = socketDirFor(process.pid);
  let exiting = false;
  const shutdown = () => {
    if (exiting) return;
    exiting = true;
    for (const child of children) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
    const owner = readLock(path.join(userDataDir, 'SingletonLock'));
    if (owner && owner.host === hostname && owner.pid === process.pid) removeSingletonLinks(userDataDir);
    if (socketServer) socketServer.close();
    fs.rmSync(socketDir, { recursive: true, force: true }); // tells the crash handlers "graceful"
    process.exit(0);
  };
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, shutdown);

  fs.rmSync(socketDir, { recursive: true, force: true }); // a stale dir of a recycled pid
  fs.mkdirSync(socketDir, { recursive: true, mode: 0o700 });
  const socketPath = path.join(socketDir, 'SingletonSocket');
  socketServer = await listenUnix(socketPath);
  for (const [name, target] of [
    ['SingletonSocket', socketPath],
    ['SingletonCookie', crypto.randomBytes(8).readBigUInt64BE().toString()],
  ]) {
    const link = path.join(userDataDir, name);
    fs.rmSync(link, { force: true });
    fs.symlinkSync(target, link);
  }

  // Like Chromium, the crash handlers and children are up before the browser
  // announces itself: once the service sees the DevTools URL, the whole tree
  // exists. Their process start-ups are the slow part, so they go in parallel.
  writeProfile(userDataDir, sessionId);
  const crashpadUp = startCrashpad(userDataDir);
  const childrenUp = startChildren(envCount('FAKE_CHROMIUM_CHILDREN', DEFAULT_CHILDREN, MAX_CHILDREN), userDataDir);
  const devtools = await listenDevTools();
  globalThis.fakeChromiumMemory = holdMemory(envCount('FAKE_CHROMIUM_RSS_MB', 0, MAX_RSS_MB));
  children = await childrenUp;
  if (exiting) return; // a signal came meanwhile: shutdown saw no children
  await crashpadUp;

  writeStderr(
    `\nDevTools listening on ws://127.0.0.1:${devtools.address().port}/devtools/browser/${crypto.randomUUID()}\n`,
  );

  // The listeners keep the process alive; this keeps it alive even if one failed.
  setInterval(() => {}, 1 << 30);
}

/** A child exits as soon as its channel to its parent closes (the parent is gone). */
function exitWithParent(onExit = () => {}) {
  const bye = () => {
    onExit();
    process.exit(0);
  };
  process.stdin.on('end', bye);
  process.stdin.on('error', bye);
  process.stdin.on('close', bye);
  process.stdin.resume();
  return bye;
}

function runChild() {
  exitWithParent();
}

/** The sandboxed zygote forks what its browser asks for, and takes it down with it. */
function runZygote() {
  const forked = [];
  const bye = exitWithParent(() => {
    for (const child of forked) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    }
  });
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP']) process.on(sig, bye);
  let buf = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', async (chunk) => {
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) >= 0) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 1);
      let request;
      try {
        request = JSON.parse(line);
      } catch {
        continue;
      }
      const children = await Promise.all((request.fork || []).map((args) => spawnChild(args)));
      forked.push(...children.filter(Boolean));
      try {
        process.stdout.write(`forked ${forked.map((c) => c.pid).join(' ')}\n`);
      } catch {
        /* the browser is gone */
      }
    }
  });
  process.stdout.on('error', () => {});
}

function runCrashpadLauncher() {
  // Second half of the double fork: each handler gets a new session and, once
  // we exit, a new parent. spawn() returns once a handler has been exec'd, so
  // it already shows up in ps and /proc when the browser hears from us.
  const rest = process.argv.slice(2).filter((a) => !a.startsWith('--type='));
  const database = rest.filter((a) => a.startsWith('--database='));
  const browserPid = rest.filter((a) => a.startsWith('--browser-pid='));
  const tail = [
    ...database,
    '--url=https://clients2.google.com/cr/report',
    '--annotation=channel=',
    '--annotation=plat=Linux',
    '--annotation=prod=Chrome_Headless',
    '--annotation=ver=143.0.7499.169',
    '--shared-client-connection',
    ...browserPid,
  ];
  for (const first of [
    ['--monitor-self', '--monitor-self-annotation=ptype=crashpad-handler', '--initial-client-fd=5'],
    ['--no-periodic-tasks', '--monitor-self-annotation=ptype=crashpad-handler', '--initial-client-fd=4'],
  ]) {
    spawnSelf(['--type=crashpad-handler', ...first, ...tail], { detached: true }).unref();
  }
  try {
    fs.writeSync(3, 'ready\n'); // the handshake descriptor set up by the browser
  } catch {
    /* started by hand, or the browser stopped listening */
  }
  process.exit(0);
}

function runCrashpadHandler(args) {
  const browserPid = Number(args['browser-pid']);
  if (!Number.isInteger(browserPid) || browserPid <= 0) process.exit(1);
  if (args.database) {
    for (const sub of ['attachments', 'completed', 'new', 'pending']) {
      try {
        fs.mkdirSync(path.join(args.database, sub), { recursive: true });
      } catch {
        /* the profile went away: crash reporting is best effort */
      }
    }
  }
  const socketDir = socketDirFor(browserPid);
  const timer = setInterval(() => {
    if (isAlive(browserPid)) return;
    if (!fs.existsSync(socketDir)) process.exit(0); // graceful browser exit
    // The browser died without cleaning up (SIGKILL, crash): stay around as
    // an orphan, as the real chrome_crashpad_handler often does.
    clearInterval(timer);
    setInterval(() => {}, 1 << 30);
  }, POLL_MS);
}

function main() {
  const argv = process.argv.slice(2);
  const args = parseArgs(argv);
  switch (args.type) {
    case undefined:
      runBrowser(args).catch((err) => {
        writeStderr(`${chromiumLogPrefix('FATAL', 'fake_chromium.cc(1)')}${err.stack || err}\n`);
        process.exit(1);
      });
      break;
    case 'zygote':
      if (argv.includes('--no-zygote-sandbox')) runChild();
      else runZygote();
      break;
    case 'gpu-process':
    case 'utility':
    case 'renderer':
      runChild();
      break;
    case 'crashpad-launcher':
      runCrashpadLauncher();
      break;
    case 'crashpad-handler':
      runCrashpadHandler(args);
      break;
    default:
      writeStderr(`fake-chromium: unknown --type=${args.type}\n`);
      process.exit(2);
  }
}

main();
