'use strict';
// Stands in for thread-stream inside dist/notify.cjs: pino loads it (and with it worker_threads
// and assert) only for pino.transport(), which hactl never calls; its logs go to a file or stderr
// through pino.destination (src/log.ts). Using a transport there fails loudly instead of silently.
module.exports = function ThreadStream() {
  throw new Error('pino transports are not bundled into hactl notify (scripts/no-thread-stream.cjs)');
};
