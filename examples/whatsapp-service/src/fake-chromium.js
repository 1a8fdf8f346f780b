'use strict';

/**
 * A stand-in for the Chromium that puppeteer launches for every WhatsApp
 * session. It does not render anything; it reproduces what the bot sees of a
 * real Chromium on the host:
 *
 *  --type=browser           the main process. Started by the service with
 *                           `detached: true` (own session and process group,
 *                           as puppeteer does). Takes the profile lock
 *                           (SingletonLock/SingletonSocket/SingletonCookie
 *                           symlinks in the user data dir), writes a few
 *                           profile files, starts a renderer and a crash
 *                           handler, then prints `DevTools listening on ws://...`
 *                           on stderr, which is what puppeteer waits for:
 *                           when the service sees it, the whole tree exists.
 *                           On SIGTERM/SIGINT/SIGHUP it stops its renderer,
 *                           removes its lock symlinks and exits 0. A SIGKILL
 *                           leaves the symlinks behind (stale locks).
 *  --type=renderer          a child of the browser in the browser's process
 *                           group; exits as soon as its browser is gone.
 *  --type=crashpad-launcher the intermediate of chrome_crashpad_handler's
 *                           double fork: starts the handler in a new session
 *                           and exits at once, so the handler is re-parented
 *                           to init (or to the nearest subreaper).
 *  --type=crashpad-handler  watches its browser. It exits after a graceful
 *                           browser exit (the browser removes its socket
 *                           directory, which is the signal); after a browser
 *                           crash or SIGKILL it lingers as an orphan, as the
 *                           real handler often does.
 *
 * Every process inherits the environment unchanged, so a marker variable put
 * into the service's environment by its supervisor is visible in
 * /proc/<pid>/environ of each of them.
 */

const crypto = require('node:crypto');
const fs = require('node:fs');
const net = require('node:net');
const os = require('node:os');
const path = require('node:path');
const { spawn } = require('node:child_process');

/** Exit code of Chromium when the profile is locked by another process. */
const EXIT_PROFILE_IN_USE = 21;
/** How often renderer and crash handler look at their browser. */
const POLL_MS = 500;
/** How long a browser waits for its crash handler to report. */
const CRASHPAD_START_TIMEOUT_MS = 10000;

const SINGLETON_LINKS = ['SingletonLock', 'SingletonSocket', 'SingletonCookie'];

/** Parses `--key=value` arguments into an object. */
function parseArgs(argv) {
  const args = {};
  for (const arg of argv) {
    const m = /^--([^=]+)=(.*)$/s.exec(arg);
    if (m) args[m[1]] = m[2];
  }
  return args;
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

/** Spawns this script again with another --type, never through a shell. */
function spawnSelf(type, extraArgs, options) {
  return spawn(process.execPath, [__filename, `--type=${type}`, ...extraArgs], {
    env: process.env,
    shell: false,
    stdio: 'ignore',
    ...options,
  });
}

/**
 * Starts the crash handler through the double-forking launcher and waits
 * until the launcher reports on a handshake descriptor (fd 3) that the handler
 * exists, or gives up after a while: a browser without crash reporting still
 * works.
 */
function startCrashpad(common) {
  const launcher = spawnSelf('crashpad-launcher', [...common, `--browser-pid=${process.pid}`], {
    detached: true,
    stdio: ['ignore', 'ignore', 'ignore', 'pipe'],
  });
  launcher.unref();
  const handshake = launcher.stdio[3];
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      handshake.destroy();
      resolve();
    };
    const timer = setTimeout(() => {
      writeStderr(`${chromiumLogPrefix('WARNING', 'crashpad_client_linux.cc(468)')}crash handler did not start\n`);
      done();
    }, CRASHPAD_START_TIMEOUT_MS);
    handshake.on('data', done);
    handshake.on('end', done); // the launcher died before reporting
    handshake.on('error', done);
  });
}

async function runBrowser(args) {
  const userDataDir = path.resolve(args['user-data-dir'] || '');
  const sessionId = args.session || 'unknown';
  if (!args['user-data-dir']) {
    writeStderr('fake-chromium: --user-data-dir is required\n');
    process.exit(1);
  }
  const hostname = os.hostname();
  const common = [`--user-data-dir=${userDataDir}`, `--session=${sessionId}`];

  fs.mkdirSync(path.join(userDataDir, 'Default'), { recursive: true });
  acquireProfileLock(userDataDir, hostname);

  // From here on, a signal must release the profile.
  let renderer = null;
  let socketServer = null;
  const socketDir = socketDirFor(process.pid);
  let exiting = false;
  const shutdown = () => {
    if (exiting) return;
    exiting = true;
    if (renderer && renderer.exitCode === null) renderer.kill('SIGTERM');
    const owner = readLock(path.join(userDataDir, 'SingletonLock'));
    if (owner && owner.host === hostname && owner.pid === process.pid) removeSingletonLinks(userDataDir);
    if (socketServer) socketServer.close();
    fs.rmSync(socketDir, { recursive: true, force: true }); // tells the crash handler "graceful"
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

  // Like Chromium, the crash handler is up before the browser announces
  // itself: once the service sees the DevTools URL, the whole tree exists.
  // Its two process start-ups are the slow part, so the rest goes meanwhile.
  writeProfile(userDataDir, sessionId);
  const crashpadUp = startCrashpad(common);
  renderer = spawnSelf('renderer', [...common, '--renderer-client-id=5']);
  const devtools = await listenDevTools();
  await crashpadUp;

  writeStderr(
    `\nDevTools listening on ws://127.0.0.1:${devtools.address().port}/devtools/browser/${crypto.randomUUID()}\n`,
  );

  // The listeners keep the process alive; this keeps it alive even if one failed.
  setInterval(() => {}, 1 << 30);
}

function runRenderer() {
  const browserPid = process.ppid;
  setInterval(() => {
    if (process.ppid !== browserPid) process.exit(0); // the browser is gone: so are we
  }, POLL_MS);
}

function runCrashpadLauncher() {
  // Second half of the double fork: the handler gets a new session and, once
  // we exit, a new parent. spawn() returns once the handler has been exec'd,
  // so it already shows up in ps and /proc when the browser hears from us.
  const handlerArgs = process.argv.slice(2).filter((a) => !a.startsWith('--type='));
  spawnSelf('crashpad-handler', handlerArgs, { detached: true }).unref();
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
  const args = parseArgs(process.argv.slice(2));
  switch (args.type) {
    case 'browser':
      runBrowser(args).catch((err) => {
        writeStderr(`${chromiumLogPrefix('FATAL', 'fake_chromium.cc(1)')}${err.stack || err}\n`);
        process.exit(1);
      });
      break;
    case 'renderer':
      runRenderer();
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
