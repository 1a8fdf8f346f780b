'use strict';

/**
 * A small winston look-alike.
 *
 * The real service logs through winston 3 configured roughly as
 *
 *   winston.createLogger({
 *     level: 'info',
 *     format: combine(timestamp({ format: 'YYYY-MM-DD HH:mm:ss' }), errors({ stack: true }), splat(), json()),
 *     defaultMeta: { service: 'whatsapp-service' },
 *     transports: [
 *       new File({ filename: 'logs/error.log', level: 'error' }),
 *       new File({ filename: 'logs/combined.log' }),
 *       new Console(),
 *     ],
 *   });
 *
 * This module reproduces the output of that setup byte for byte where the bot
 * cares about it, including winston's quirks:
 *
 *  - JSON keys are sorted alphabetically (logform's json() uses
 *    safe-stable-stringify, which sorts keys recursively);
 *  - the timestamp is local time, `YYYY-MM-DD HH:mm:ss`;
 *  - `logger.error('msg:', err)` with an Error appends the error's message to
 *    the log message (`msg: <err.message>`), copies the error's enumerable
 *    properties (code, errno, ...) and adds its `stack`;
 *  - `logger.warn('msg', 'abc')` with a string second argument spreads the
 *    string into the entry as keys "0", "1", "2" (format.splat() does
 *    Object.assign(info, 'abc') when the message has no %-tokens).
 *
 * Writes are synchronous so that a line is on disk before the next one is
 * produced and before the process exits: the bot follows combined.log and
 * must see the last line a crashing service wrote.
 */

const fs = require('node:fs');
const path = require('node:path');

const LEVELS = { error: 0, warn: 1, info: 2, http: 3, verbose: 4, debug: 5, silly: 6 };

/** Zero-pads a number to two digits. */
function pad2(n) {
  return String(n).padStart(2, '0');
}

/** Local time as `YYYY-MM-DD HH:mm:ss` (winston timestamp({format}) via fecha). */
function localTimestamp(date = new Date()) {
  return (
    `${date.getFullYear()}-${pad2(date.getMonth() + 1)}-${pad2(date.getDate())} ` +
    `${pad2(date.getHours())}:${pad2(date.getMinutes())}:${pad2(date.getSeconds())}`
  );
}

/**
 * JSON.stringify with keys sorted at every level, like safe-stable-stringify
 * (default comparator: UTF-16 code units, so "0" < "10" < "2" < "level").
 * Circular references become "[Circular]" instead of throwing.
 */
function stableStringify(value) {
  const stack = [];

  function serialize(val) {
    if (val !== null && typeof val === 'object' && typeof val.toJSON === 'function') {
      val = val.toJSON();
    }
    if (val === null || typeof val !== 'object') {
      if (typeof val === 'bigint') return String(val);
      if (typeof val === 'function' || typeof val === 'symbol' || val === undefined) return undefined;
      return JSON.stringify(val);
    }
    if (stack.includes(val)) return '"[Circular]"';
    stack.push(val);
    let out;
    if (Array.isArray(val)) {
      out = `[${val.map((item) => serialize(item) ?? 'null').join(',')}]`;
    } else {
      const parts = [];
      for (const key of Object.keys(val).sort()) {
        const s = serialize(val[key]);
        if (s !== undefined) parts.push(`${JSON.stringify(key)}:${s}`);
      }
      out = `{${parts.join(',')}}`;
    }
    stack.pop();
    return out;
  }

  return serialize(value);
}

/** Text format: `<timestamp> <level>: <message>`, one line per entry, stack flattened. */
function formatText(info) {
  let line = `${info.timestamp} ${info.level}: ${info.message}`;
  if (info.stack) line += ` ${String(info.stack).replace(/\s*\n\s*/g, ' ')}`;
  return line.replace(/\r?\n/g, ' ');
}

/** An append-only file sink, never rotated. */
class FileSink {
  constructor(filename, level) {
    this.filename = filename;
    this.level = level;
    this.fd = null;
    this.broken = false;
    this.open(); // like winston's File transport: the file exists from the start
  }

  open() {
    try {
      fs.mkdirSync(path.dirname(this.filename), { recursive: true });
      this.fd = fs.openSync(this.filename, 'a');
    } catch (err) {
      this.fail(err);
    }
  }

  write(line) {
    if (this.broken) return;
    try {
      fs.writeSync(this.fd, line);
    } catch (err) {
      this.fail(err);
    }
  }

  /** A full disk or an unwritable directory must not take the service down: say it once and go on. */
  fail(err) {
    this.broken = true;
    try {
      process.stderr.write(`logger: cannot write ${this.filename}: ${err.message}\n`);
    } catch {
      /* stderr gone too: nothing left to tell */
    }
  }
}

// A closed stdout (e.g. the supervisor that held the read end of a pipe went
// away) must never crash the service: EPIPE is ignored, like a dead console.
let stdoutBroken = false;
process.stdout.on('error', () => {
  stdoutBroken = true;
});

/**
 * Creates a logger.
 *
 * @param {object} options
 * @param {string} options.dir        directory of combined.log and error.log (created when missing)
 * @param {'json'|'text'} [options.format='json']
 * @param {string} [options.level='info']
 * @param {object} [options.defaultMeta]
 * @param {boolean} [options.console=true] echo every entry to stdout
 */
function createLogger({ dir, format = 'json', level = 'info', defaultMeta = {}, console = true }) {
  const threshold = LEVELS[level] ?? LEVELS.info;
  const sinks = [new FileSink(path.join(dir, 'error.log'), 'error'), new FileSink(path.join(dir, 'combined.log'), 'silly')];
  const render = format === 'text' ? formatText : stableStringify;

  function log(lvl, message, ...splat) {
    if (LEVELS[lvl] > threshold) return;

    // Mirrors winston's Logger.log() followed by format.splat().
    let info;
    const meta = splat[0];
    if (meta !== null && typeof meta === 'object') {
      info = Object.assign({}, defaultMeta, meta, { level: lvl, message });
      if (meta.message) info.message = `${info.message} ${meta.message}`;
      if (meta.stack) info.stack = meta.stack;
    } else {
      info = Object.assign({}, defaultMeta, { level: lvl, message });
      for (const extra of splat) Object.assign(info, extra);
      // Object.assign cannot override these through a string spread, but an
      // object further down the splat could: keep the entry well-formed.
      info.level = lvl;
      info.message = message;
    }
    info.timestamp = localTimestamp();

    const line = `${render(info)}\n`;
    for (const sink of sinks) {
      if (LEVELS[lvl] <= LEVELS[sink.level]) sink.write(line);
    }
    if (console && !stdoutBroken) {
      try {
        process.stdout.write(line);
      } catch {
        stdoutBroken = true;
      }
    }
  }

  const logger = { log };
  for (const lvl of Object.keys(LEVELS)) {
    logger[lvl] = (message, ...splat) => log(lvl, message, ...splat);
  }
  return logger;
}

module.exports = { createLogger, localTimestamp, stableStringify };
