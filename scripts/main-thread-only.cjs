'use strict';
// Stands in for worker_threads inside dist/notify.cjs: pino reads isMainThread (to flush an async
// destination on exit; hactl's are synchronous) and nothing else there uses it. notify never runs
// in a worker. Anything else asked of it fails loudly instead of silently.
module.exports = new Proxy(
  { isMainThread: true },
  {
    get(target, key) {
      if (key in target) return target[key];
      throw new Error(
        `worker_threads.${String(key)} is not bundled into hactl notify (scripts/main-thread-only.cjs)`,
      );
    },
  },
);
