'use strict';

/**
 * Stand-in for SanaSend's WhatsApp service (Express + whatsapp-web.js).
 *
 * It behaves, as seen from the host, like the real service: the same HTTP
 * health endpoint, the same winston log lines, the same session-restoration
 * sequence, and one detached (fake) Chromium process tree per session, with
 * LocalAuth profile directories and Chromium's singleton lock symlinks.
 * Only Node.js built-ins are used, so `npm start` works without `npm install`.
 *
 * Configuration is by environment variable; see README.md for the full list.
 */

const fs = require('node:fs');
const http = require('node:http');
const path = require('node:path');
const { spawn } = require('node:child_process');
const { setTimeout: sleep } = require('node:timers/promises');

const { createLogger } = require('./logger');

/** The service directory (parent of src/): every relative path resolves against it. */
const SERVICE_DIR = path.resolve(__dirname, '..');
const FAKE_CHROMIUM = path.join(__dirname, 'fake-chromium.js');

/** Where the real service's Django API lives; only used in error messages. */
const DJANGO_HOST = '127.0.0.1';
const DJANGO_PORT = 8000;

/** Puppeteer gives up on a browser that did not print its DevTools URL after this long. */
const BROWSER_LAUNCH_TIMEOUT_MS = 30000;
/** How long a graceful stop waits for the active clients' browsers. */
const SHUTDOWN_GRACE_MS = 3000;
/** Bounds of FAKE_CHROMIUM_CHILDREN and of FAKE_CHROMIUM_RSS_MB / "rss_mb" (fake-chromium.js has the same). */
const MAX_CHROMIUM_CHILDREN = 10;
const MAX_RSS_MB = 65536;

const SESSION_ID_RE = /^[A-Za-z0-9_-]+$/;

// ---------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------

/** Reports a configuration error and exits before anything else happens. */
function configError(message) {
  process.stderr.write(`whatsapp-service: ${message}\n`);
  process.exit(1);
}

/** Reads a non-negative integer from the environment. */
function envInt(env, name, fallback, { max = Number.MAX_SAFE_INTEGER } = {}) {
  const raw = env[name];
  if (raw === undefined || raw === '') return fallback;
  if (!/^\d+$/.test(raw.trim()) || Number(raw) > max) {
    configError(`${name}=${JSON.stringify(raw)} is not an integer between 0 and ${max}`);
  }
  return Number(raw);
}

/** Reads a boolean flag: "1", "true", "yes" and "on" are true. */
function envFlag(env, name) {
  return /^(1|true|yes|on)$/i.test(String(env[name] || '').trim());
}

/** Resolves a path from the environment against the service directory. */
function envPath(env, name, fallback) {
  return path.resolve(SERVICE_DIR, env[name] || fallback);
}

function readConfig(env) {
  const logFormat = (env.LOG_FORMAT || 'json').toLowerCase();
  if (logFormat !== 'json' && logFormat !== 'text') {
    configError(`LOG_FORMAT=${JSON.stringify(env.LOG_FORMAT)} must be "json" or "text"`);
  }
  return {
    port: envInt(env, 'PORT', 3000, { max: 65535 }),
    host: env.HOST || '127.0.0.1',
    logDir: envPath(env, 'LOG_DIR', 'logs'),
    logFormat,
    authDir: envPath(env, 'AUTH_DIR', '.wwebjs_auth'),
    sessionsFile: envPath(env, 'SESSIONS_FILE', 'data/active-sessions.json'),
    restoreDelayMs: envInt(env, 'RESTORE_DELAY_MS', 5000),
    restoreStepMs: envInt(env, 'RESTORE_STEP_MS', 300),
    followupMs: envInt(env, 'FOLLOWUP_MS', 500),
    startDelayMs: envInt(env, 'FAKE_START_DELAY_MS', 0),
    crashAfterMs: envInt(env, 'FAKE_CRASH_AFTER_MS', 0),
    crashAtStart: envFlag(env, 'FAKE_CRASH'),
    ignoreSigterm: envFlag(env, 'FAKE_IGNORE_SIGTERM'),
    unhealthy: envFlag(env, 'FAKE_UNHEALTHY'),
    hangHealth: envFlag(env, 'FAKE_HANG_HEALTH'),
    badJson: envFlag(env, 'FAKE_BAD_JSON'),
    djangoDown: envFlag(env, 'FAKE_DJANGO_DOWN'),
    // Read by fake-chromium.js from the inherited environment; checked here so that a typo stops the service.
    chromiumChildren: envInt(env, 'FAKE_CHROMIUM_CHILDREN', 6, { max: MAX_CHROMIUM_CHILDREN }),
    chromiumRssMb: envInt(env, 'FAKE_CHROMIUM_RSS_MB', 0, { max: MAX_RSS_MB }),
  };
}

// ---------------------------------------------------------------------------
// Realistic errors
// ---------------------------------------------------------------------------

/** Paths as they appear in the real service's stack traces. */
const NM = path.join(SERVICE_DIR, 'node_modules');
const SRC = path.join(SERVICE_DIR, 'src');
const PPTR = `${NM}/puppeteer-core/lib/cjs/puppeteer`;
const WA_BUNDLE = 'https://static.whatsapp.net/rsrc.php/v4iTN84/yR/l/en_GB-j/';

/**
 * The stack of a whatsapp-web.js/puppeteer failure: the page-side frames of
 * WhatsApp Web's minified bundles, then the Node side down to the service's
 * session manager. Several KiB, like the real ones.
 */
function puppeteerStack(header) {
  const page = [
    `${WA_BUNDLE}Ol0GqxYSmpyKdxXoSy3CWAc_qoeHFIgPdnUkKGxdaEsWc5tOWsHKv1XN1Gtq0IYwGRR3zW4jMMYu1O9FjWkG0nv.js:2079:1398`,
    `${WA_BUNDLE}3pKQ5Bbv1Yf2Ii3U9ZaR27VhvYDR5ofzwaFZNCPcgL9nz3_aXDVmuEHdWr8yRw1vSpwzl0p4EMJbtMGxpYkSFLR.js:384:2217`,
    `${WA_BUNDLE}7tZdG8I2FZQ4vYAyuI0YTVpOPmCKspRojQx1SvoqJGHxzC47Jc1rPO4WzQdvT2mRTp2LzbycHfY1UzcJ1iLq9ys.js:119:905`,
    `${WA_BUNDLE}Ol0GqxYSmpyKdxXoSy3CWAc_qoeHFIgPdnUkKGxdaEsWc5tOWsHKv1XN1Gtq0IYwGRR3zW4jMMYu1O9FjWkG0nv.js:1867:51`,
    `${WA_BUNDLE}QbY2fV1oCkV6u0mX0qL4pA3wJr9sT5hN8eG7dZ1cB2xY6vK3nM4jH9gF0aS8dP7oI6uT5rE4wQ3yL2kJ1hG0fD.js:58:6612`,
    `new Promise (<anonymous>)`,
    `${WA_BUNDLE}QbY2fV1oCkV6u0mX0qL4pA3wJr9sT5hN8eG7dZ1cB2xY6vK3nM4jH9gF0aS8dP7oI6uT5rE4wQ3yL2kJ1hG0fD.js:58:6219`,
    `${WA_BUNDLE}3pKQ5Bbv1Yf2Ii3U9ZaR27VhvYDR5ofzwaFZNCPcgL9nz3_aXDVmuEHdWr8yRw1vSpwzl0p4EMJbtMGxpYkSFLR.js:1102:3311`,
  ];
  const node = [
    `__puppeteer_evaluation_script__:5:42`,
    `ExecutionContext._ExecutionContext_evaluate (${PPTR}/cdp/ExecutionContext.js:391:19)`,
    `process.processTicksAndRejections (node:internal/process/task_queues:95:5)`,
    `async ExecutionContext.evaluate (${PPTR}/cdp/ExecutionContext.js:277:16)`,
    `async IsolatedWorld.evaluate (${PPTR}/cdp/IsolatedWorld.js:100:16)`,
    `async CdpFrame.evaluate (${PPTR}/api/Frame.js:364:20)`,
    `async CdpFrame.<anonymous> (${PPTR}/util/decorators.js:109:27)`,
    `async CdpPage.evaluate (${PPTR}/api/Page.js:835:20)`,
    `async Client.inject (${NM}/whatsapp-web.js/src/Client.js:116:9)`,
    `async Client.initialize (${NM}/whatsapp-web.js/src/Client.js:349:9)`,
    `async SessionManager.createClient (${SRC}/services/sessionManager.js:187:7)`,
    `async SessionManager.restoreSession (${SRC}/services/sessionManager.js:142:22)`,
    `async SessionManager.restoreAllSessions (${SRC}/services/sessionManager.js:96:24)`,
    `async Timeout._onTimeout (${SRC}/server.js:71:5)`,
  ];
  return [header, ...page.map((f) => `    at ${f}`), ...node.map((f) => `    at ${f}`)].join('\n');
}

/** An Error as thrown by puppeteer when an evaluation in WhatsApp Web fails. */
function puppeteerError(message) {
  const err = new Error(message);
  err.name = 'ProtocolError';
  err.stack = puppeteerStack(`ProtocolError: ${message}`);
  return err;
}

/**
 * The stack of a failed `page.goto(WhatsApp Web)` in Client.initialize:
 * puppeteer's navigation frames, then the service's session manager.
 */
function navigationStack(header, timeout) {
  const frames = timeout
    ? [
        `new Deferred (${PPTR}/util/Deferred.js:60:34)`,
        `Deferred.create (${PPTR}/util/Deferred.js:21:16)`,
        `new LifecycleWatcher (${PPTR}/cdp/LifecycleWatcher.js:69:60)`,
        `CdpFrame.goto (${PPTR}/cdp/Frame.js:136:29)`,
        `CdpFrame.<anonymous> (${PPTR}/util/decorators.js:98:27)`,
        `CdpPage.goto (${PPTR}/api/Page.js:574:43)`,
        `Client.initialize (${NM}/whatsapp-web.js/src/Client.js:341:35)`,
        `async SessionManager.createClient (${SRC}/services/sessionManager.js:187:7)`,
      ]
    : [
        `navigate (${PPTR}/cdp/Frame.js:180:27)`,
        `process.processTicksAndRejections (node:internal/process/task_queues:105:5)`,
        `async Deferred.race (${PPTR}/util/Deferred.js:36:20)`,
        `async CdpFrame.goto (${PPTR}/cdp/Frame.js:146:25)`,
        `async CdpFrame.<anonymous> (${PPTR}/util/decorators.js:109:27)`,
        `async CdpPage.goto (${PPTR}/api/Page.js:574:20)`,
        `async Client.initialize (${NM}/whatsapp-web.js/src/Client.js:341:9)`,
        `async SessionManager.createClient (${SRC}/services/sessionManager.js:187:7)`,
      ];
  frames.push(
    `async SessionManager.restoreSession (${SRC}/services/sessionManager.js:142:22)`,
    `async SessionManager.restoreAllSessions (${SRC}/services/sessionManager.js:96:24)`,
    `async Timeout._onTimeout (${SRC}/server.js:71:5)`,
  );
  return [header, ...frames.map((f) => `    at ${f}`)].join('\n');
}

/**
 * The error whatsapp-web.js/puppeteer 24 throws for a reason, with the class
 * and stack the real one has:
 *  - `net::ERR_* at <url>` (Chromium could not load WhatsApp Web) and
 *    `Navigating frame was detached`: a plain Error from page.goto;
 *  - `Navigation timeout of N ms exceeded`: puppeteer's TimeoutError;
 *  - `Protocol error (...)`: puppeteer's ProtocolError from an evaluation;
 *  - anything else: a plain Error from the evaluation in WhatsApp Web.
 */
function restoreError(reason) {
  const message = reason || 'Protocol error (Runtime.callFunctionOn): Target closed.';
  if (/^Protocol error\b/.test(message)) return puppeteerError(message);
  const err = new Error(message);
  if (/^Navigation timeout of \d+ ms exceeded/.test(message)) {
    err.name = 'TimeoutError';
    err.stack = navigationStack(`TimeoutError: ${message}`, true);
  } else if (/^net::ERR_|^Navigating frame was detached/.test(message)) {
    err.stack = navigationStack(`Error: ${message}`, false);
  } else {
    err.stack = puppeteerStack(`Error: ${message}`);
  }
  return err;
}

/** What puppeteer rejects a pending navigation with when the service closes the browser under it. */
const FRAME_DETACHED = 'Navigating frame was detached';

/** The error a refused TCP connection to Django produces. */
function connRefusedError() {
  return Object.assign(new Error(`connect ECONNREFUSED ${DJANGO_HOST}:${DJANGO_PORT}`), {
    errno: -111,
    code: 'ECONNREFUSED',
    syscall: 'connect',
    address: DJANGO_HOST,
    port: DJANGO_PORT,
  });
}

// ---------------------------------------------------------------------------
// FAKE_CRASH: dies while loading, before a logger exists
// ---------------------------------------------------------------------------

/** What Node prints when `require('whatsapp-web.js')` fails (no node_modules). */
function crashAtStart() {
  const requireStack = [`${SRC}/services/sessionManager.js`, `${SRC}/server.js`];
  process.stderr.write(
    [
      'node:internal/modules/cjs/loader:1228',
      '  throw err;',
      '  ^',
      '',
      "Error: Cannot find module 'whatsapp-web.js'",
      'Require stack:',
      ...requireStack.map((p) => `- ${p}`),
      '    at Module._resolveFilename (node:internal/modules/cjs/loader:1225:15)',
      '    at Module._load (node:internal/modules/cjs/loader:1051:27)',
      '    at Module.require (node:internal/modules/cjs/loader:1311:19)',
      '    at require (node:internal/modules/helpers:179:18)',
      `    at Object.<anonymous> (${requireStack[0]}:1:30)`,
      '    at Module._compile (node:internal/modules/cjs/loader:1469:14)',
      '    at Module._extensions..js (node:internal/modules/cjs/loader:1548:10)',
      '    at Module.load (node:internal/modules/cjs/loader:1288:32)',
      '    at Module._load (node:internal/modules/cjs/loader:1104:12)',
      '    at Module.require (node:internal/modules/cjs/loader:1311:19) {',
      "  code: 'MODULE_NOT_FOUND',",
      `  requireStack: [ ${requireStack.map((p) => `'${p}'`).join(', ')} ]`,
      '}',
      '',
      `Node.js ${process.version}`,
      '',
    ].join('\n'),
  );
  process.exit(3);
}

// ---------------------------------------------------------------------------
// Sessions: the "Django answer" and one fake Chromium per session
// ---------------------------------------------------------------------------

/**
 * The browser's flags: puppeteer 24's defaults for `headless: true` (most of
 * them), the service's `--no-sandbox` pair, and puppeteer's
 * `--remote-debugging-port=0`. `--user-data-dir` (LocalAuth's) and the start
 * page follow.
 */
const PUPPETEER_ARGS = [
  '--allow-pre-commit-input',
  '--disable-background-networking',
  '--disable-background-timer-throttling',
  '--disable-backgrounding-occluded-windows',
  '--disable-breakpad',
  '--disable-client-side-phishing-detection',
  '--disable-component-extensions-with-background-pages',
  '--disable-crash-reporter',
  '--disable-default-apps',
  '--disable-dev-shm-usage',
  '--disable-hang-monitor',
  '--disable-infobars',
  '--disable-ipc-flooding-protection',
  '--disable-popup-blocking',
  '--disable-prompt-on-repost',
  '--disable-renderer-backgrounding',
  '--disable-search-engine-choice-screen',
  '--disable-sync',
  '--enable-automation',
  '--export-tagged-pdf',
  '--force-color-profile=srgb',
  '--generate-pdf-document-outline',
  '--metrics-recording-only',
  '--no-first-run',
  '--password-store=basic',
  '--use-mock-keychain',
  '--headless=new',
  '--hide-scrollbars',
  '--mute-audio',
  '--no-sandbox',
  '--disable-setuid-sandbox',
  '--remote-debugging-port=0',
];

/** The values of a sessions-file entry's "after". */
const AFTER_VALUES = ['ready', 'qr', 'logout'];

/** Checks an optional non-negative integer field of a sessions-file entry. */
function checkCount(entry, field, sessionId, max = Number.MAX_SAFE_INTEGER) {
  const v = entry[field];
  if (v !== undefined && !(Number.isInteger(v) && v >= 0 && v <= max)) {
    throw new Error(`Invalid ${field} ${JSON.stringify(v)} for session ${sessionId}: an integer between 0 and ${max}`);
  }
}

/** SIGTERMs a browser (its main process, as puppeteer's browser.close() ends up doing) and waits for it, at most graceMs. */
function stopBrowser(child, graceMs) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, graceMs);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    try {
      process.kill(child.pid, 'SIGTERM');
    } catch {
      /* already gone */
    }
  });
}

class SessionManager {
  constructor({ config, logger }) {
    this.config = config;
    this.logger = logger;
    /**
     * The active clients: restored sessions, id -> { child, after }. Only
     * these are destroyed on shutdown; the browsers of failed and logged-out
     * sessions keep running, as with the real service.
     */
    this.clients = new Map();
    this.stopping = false;
    /** Aborted when the shutdown begins: the session being restored loses its browser. */
    this.abort = new AbortController();
    /** The running restoration, so that a shutdown can wait for its last line. */
    this.restoration = null;
  }

  /** Stands in for GET <django>/api/whatsapp/active-sessions/. */
  async fetchActiveSessions() {
    if (this.config.djangoDown) throw connRefusedError();
    const text = await fs.promises.readFile(this.config.sessionsFile, 'utf8');
    const sessions = JSON.parse(text);
    if (!Array.isArray(sessions)) {
      throw new Error(`Invalid response from Django: expected a list of sessions in ${this.config.sessionsFile}`);
    }
    return sessions;
  }

  /**
   * True when LocalAuth has a saved login for the session: its dir holds a
   * Chromium profile (Default/). Looked at before the browser starts, since
   * the browser creates the dir and the profile when they are missing.
   */
  hasSavedLogin(sessionId) {
    try {
      return fs.statSync(path.join(this.config.authDir, `session-${sessionId}`, 'Default')).isDirectory();
    } catch {
      return false;
    }
  }

  /**
   * Launches the fake Chromium of a session the way puppeteer does: detached
   * (own session and process group), environment inherited (with the
   * session's FAKE_CHROMIUM_RSS_MB when its entry has rss_mb), puppeteer's
   * flags and LocalAuth's --user-data-dir.
   */
  spawnBrowser(sessionId, rssMb) {
    const userDataDir = path.join(this.config.authDir, `session-${sessionId}`);
    const env = rssMb === undefined ? process.env : { ...process.env, FAKE_CHROMIUM_RSS_MB: String(rssMb) };
    return spawn(process.execPath, [FAKE_CHROMIUM, ...PUPPETEER_ARGS, `--user-data-dir=${userDataDir}`, 'about:blank'], {
      cwd: SERVICE_DIR,
      detached: true,
      env,
      shell: false,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }

  /**
   * Reads the browser's stderr until the DevTools URL appears, as puppeteer
   * does. Rejects with puppeteer's "Failed to launch the browser process!"
   * when the browser exits first, after BROWSER_LAUNCH_TIMEOUT_MS, or when the
   * shutdown begins.
   */
  waitForDevTools(child) {
    return new Promise((resolve, reject) => {
      const { signal } = this.abort;
      let stderr = '';
      let settled = false;
      const settle = (err) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal.removeEventListener('abort', onAbort);
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => settle(new Error(FRAME_DETACHED));
      const timer = setTimeout(() => {
        child.kill('SIGKILL');
        settle(new Error(`Timed out after ${BROWSER_LAUNCH_TIMEOUT_MS} ms while waiting for the WS endpoint URL to appear in stdout!`));
      }, BROWSER_LAUNCH_TIMEOUT_MS);
      if (signal.aborted) onAbort();
      else signal.addEventListener('abort', onAbort, { once: true });

      child.stderr.setEncoding('utf8');
      child.stderr.on('data', (chunk) => {
        if (settled) return; // keep draining, ignore
        stderr += chunk;
        if (/DevTools listening on ws:\/\/\S+/.test(stderr)) settle(null);
      });
      child.once('error', (err) => settle(err));
      child.once('exit', (code, signal) => {
        const output = stderr.trim().replace(/\s*\n\s*/g, ' ');
        settle(new Error(`Failed to launch the browser process! ${output || `code: ${code}, signal: ${signal}`}`));
      });
    });
  }

  /**
   * Restores one session. Resolves { success, error }; throws when the
   * restore blows up (the entry's "error" outcome). A shutdown during the
   * restore closes the session's browser, and the restore fails with
   * puppeteer's "Navigating frame was detached". firstRun: there was no
   * auth dir at all when the restoration began (every login counts as saved).
   */
  async restoreSession(entry, firstRun = false) {
    const sessionId = entry && entry.session_id;
    if (typeof sessionId !== 'string' || !SESSION_ID_RE.test(sessionId)) {
      throw new Error(`Invalid session id ${JSON.stringify(sessionId)}`);
    }
    if (!['ok', 'fail', 'error'].includes(entry.restore)) {
      throw new Error(`Invalid restore outcome ${JSON.stringify(entry.restore)} for session ${sessionId}`);
    }
    if (entry.after !== undefined && !AFTER_VALUES.includes(entry.after)) {
      throw new Error(`Invalid after ${JSON.stringify(entry.after)} for session ${sessionId}`);
    }
    checkCount(entry, 'step_ms', sessionId);
    checkCount(entry, 'rss_mb', sessionId, MAX_RSS_MB);
    const stepMs = entry.step_ms ?? this.config.restoreStepMs;
    // LocalAuth without a saved login starts a fresh profile: WhatsApp Web asks for a QR scan.
    const fresh = !firstRun && !this.hasSavedLogin(sessionId);

    const child = this.spawnBrowser(sessionId, entry.rss_mb);
    child.on('error', () => {}); // reported by waitForDevTools
    try {
      await this.waitForDevTools(child);
      await sleep(stepMs, undefined, { signal: this.abort.signal });
    } catch (err) {
      if (!this.abort.signal.aborted) return { success: false, error: err.message };
      await stopBrowser(child, SHUTDOWN_GRACE_MS);
      return { success: false, error: FRAME_DETACHED };
    }

    switch (entry.restore) {
      case 'ok':
        this.clients.set(sessionId, { child, after: fresh ? 'qr' : entry.after });
        child.once('exit', (code, signal) => {
          if (this.stopping || !this.clients.has(sessionId)) return;
          this.clients.delete(sessionId);
          this.logger.warn(`Client ${sessionId} disconnected: browser exited (${signal || `code ${code}`})`);
        });
        return { success: true };
      case 'fail':
        // The real service logs `undefined` after its 30 s authentication timeout.
        return { success: false, error: entry.reason === 'undefined' ? undefined : entry.reason };
      default:
        throw restoreError(entry.reason);
    }
  }

  /** Restores every active session, in order; returns the result object the service logs (null if a shutdown interrupted it). */
  restoreAllSessions() {
    this.restoration = this.runRestoration();
    return this.restoration;
  }

  async runRestoration() {
    const { logger } = this;
    logger.info('Starting session restoration...');

    let sessions;
    try {
      sessions = await this.fetchActiveSessions();
    } catch (error) {
      // The real service passes the message, not the error: winston spreads
      // the string into keys "0", "1", ... and the line has no stack.
      logger.error('Failed to restore sessions:', error.message);
      return { restored: 0, failed: 0, total: 0, error: error.message };
    }

    logger.info(`Found ${sessions.length} sessions to restore`);
    // A stand-in that never ran (no auth dir at all) stands for a service
    // whose sessions were all linked before: their logins count as saved,
    // so a fresh copy (the demo, a test) restores as its sessions file says.
    let firstRun = false;
    try {
      fs.statSync(this.config.authDir);
    } catch {
      firstRun = true;
    }
    let restored = 0;
    let failed = 0;
    const restoredIds = [];
    for (const entry of sessions) {
      if (this.stopping) break;
      const sessionId = entry && entry.session_id;
      logger.info(`Restoring session: ${sessionId} (${entry && entry.instance_name})`);
      try {
        const result = await this.restoreSession(entry, firstRun);
        if (result.success) {
          restored++;
          restoredIds.push(sessionId);
          logger.info(`✓ Session restored: ${sessionId}`);
        } else {
          failed++;
          logger.warn(`✗ Failed to restore session ${sessionId}: ${result.error}`);
        }
      } catch (error) {
        failed++;
        logger.error(`✗ Error restoring session ${sessionId}:`, error);
      }
    }
    // A shutdown ends the process before the loop does: no summary line.
    if (this.stopping) return null;
    logger.info(`Session restoration complete: ${restored} restored, ${failed} failed`);
    this.scheduleFollowUps(restoredIds);
    return { restored, failed, total: sessions.length };
  }

  /**
   * "Restored" is not "connected": the client later reports ready or asks for
   * a QR scan. A logged-out client reports ready, then is disconnected; the
   * service forgets it, so its browser is no longer closed by a shutdown.
   */
  scheduleFollowUps(sessionIds) {
    const { followupMs } = this.config;
    setTimeout(() => {
      for (const id of sessionIds) {
        const client = this.clients.get(id);
        if (!client || this.stopping) continue;
        if (client.after === 'ready' || client.after === 'logout') this.logger.info(`Client ${id} is ready`);
        else if (client.after === 'qr') this.logger.info(`QR code generated for session ${id}`);
        if (client.after === 'logout') setTimeout(() => this.logout(id, client), followupMs).unref();
      }
    }, followupMs).unref();
  }

  /** WhatsApp Web logged the client out (unlinked from the phone): 'disconnected' with reason LOGOUT. */
  logout(id, client) {
    if (this.stopping || this.clients.get(id) !== client) return;
    this.clients.delete(id);
    this.logger.warn(`Client ${id} disconnected: LOGOUT`);
  }

  /**
   * Destroys the active clients (SIGTERM to their browsers) and the one being
   * restored, and waits for them and for the restoration's last line, at most
   * `graceMs`.
   */
  async destroyAll(graceMs) {
    this.stopping = true;
    this.abort.abort();
    const waits = [...this.clients.values()].map(({ child }) => stopBrowser(child, graceMs));
    this.clients.clear();
    if (this.restoration) waits.push(this.restoration.catch(() => {}));
    let timer;
    await Promise.race([Promise.all(waits), new Promise((resolve) => (timer = setTimeout(resolve, graceMs)))]);
    clearTimeout(timer);
  }
}

// ---------------------------------------------------------------------------
// HTTP
// ---------------------------------------------------------------------------

function sendJson(res, status, body) {
  const payload = JSON.stringify(body);
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(payload),
    'X-Powered-By': 'Express',
  });
  res.end(payload);
}

function createServer({ config, logger }) {
  return http.createServer((req, res) => {
    // Express' req.path: the URL without its query string.
    const pathname = (req.url || '/').split('?')[0];
    logger.info(`${req.method} ${pathname}`);

    try {
      // Express routing is case-insensitive and ignores one trailing slash;
      // a GET route also answers HEAD.
      if (/^\/health\/?$/i.test(pathname) && (req.method === 'GET' || req.method === 'HEAD')) {
        if (config.hangHealth) return; // never answer, keep the socket open
        if (config.badJson) {
          res.writeHead(200, { 'Content-Type': 'application/json; charset=utf-8' });
          res.end('{"success":true,"status":"healthy","uptime":');
          return;
        }
        const healthy = !config.unhealthy;
        sendJson(res, healthy ? 200 : 503, {
          success: healthy,
          status: healthy ? 'healthy' : 'unhealthy',
          uptime: process.uptime(),
          timestamp: new Date().toISOString(),
        });
        return;
      }
      sendJson(res, 404, { success: false, error: 'Endpoint not found' });
    } catch (error) {
      logger.error('Request failed:', error);
      if (!res.headersSent) sendJson(res, 500, { success: false, error: 'Internal server error' });
      else res.destroy();
    }
  });
}

// ---------------------------------------------------------------------------
// Main
// ---------------------------------------------------------------------------

async function main() {
  const config = readConfig(process.env);
  if (config.crashAtStart) crashAtStart();

  const logger = createLogger({
    dir: config.logDir,
    format: config.logFormat,
    defaultMeta: { service: 'whatsapp-service' },
  });

  // Nothing may leave the service half-alive: log and exit.
  process.on('uncaughtException', (error) => {
    logger.error('Uncaught Exception:', error);
    process.exit(1);
  });
  process.on('unhandledRejection', (reason) => {
    logger.error('Unhandled Rejection:', reason instanceof Error ? reason : new Error(String(reason)));
    process.exit(1);
  });

  const sessions = new SessionManager({ config, logger });
  const server = createServer({ config, logger });

  let shuttingDown = false;
  const shutdown = async (signal) => {
    if (signal === 'SIGTERM' && config.ignoreSigterm) {
      logger.warn('Ignoring SIGTERM');
      return;
    }
    if (shuttingDown) return;
    shuttingDown = true;
    logger.info(`Received ${signal}, shutting down gracefully...`);
    if (server.listening) {
      server.close();
      server.closeAllConnections();
    }
    await sessions.destroyAll(SHUTDOWN_GRACE_MS);
    logger.info('Shutdown complete');
    process.exit(0);
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));

  if (config.startDelayMs > 0) await sleep(config.startDelayMs);
  if (shuttingDown) return;

  server.on('error', (error) => {
    if (error.code === 'EADDRINUSE') logger.error(`Port ${config.port} is already in use`);
    else logger.error(`Cannot listen on ${config.host}:${config.port}:`, error);
    process.exit(1);
  });

  server.listen(config.port, config.host, () => {
    const { port } = server.address();
    logger.info(`WhatsApp Service running on port ${port}`);

    setTimeout(async () => {
      if (shuttingDown) return; // stopped before the restoration began
      logger.info('Initiating session restoration...');
      const result = await sessions.restoreAllSessions();
      if (result && !shuttingDown) logger.info(`Session restoration result: ${JSON.stringify(result)}`);
    }, config.restoreDelayMs);

    if (config.crashAfterMs > 0) {
      setTimeout(() => {
        // A crash while running: an exception nobody catches.
        throw puppeteerError('Protocol error (Target.setAutoAttach): Target closed');
      }, config.crashAfterMs);
    }
  });
}

main();
