'use strict';

// Preloaded into every Node.js process of the stand-in's tree by the cgroup
// tests (NODE_OPTIONS=--require=<this file>): the process catches SIGTERM
// with a handler that does nothing, and any handler the program adds later
// for SIGTERM is dropped, so SIGTERM ends no process of the tree and only
// cgroup.kill's SIGKILL can. Once that holds it creates the file
// $IGNORING_SIGTERM_DIR/<pid>, for the test to wait on.
const fs = require('node:fs');
const path = require('node:path');

process.on('SIGTERM', () => {});
for (const method of ['on', 'addListener', 'once', 'prependListener', 'prependOnceListener']) {
  const original = process[method];
  process[method] = function (event, listener) {
    if (event === 'SIGTERM') return this;
    return original.call(this, event, listener);
  };
}
if (process.env.IGNORING_SIGTERM_DIR) {
  fs.writeFileSync(path.join(process.env.IGNORING_SIGTERM_DIR, String(process.pid)), '');
}
