'use strict';
// Preloaded (node -r) into the notify processes of `NOTIFY_TIMELINE=1 npm run bench:promote`:
// marks, in ms since the process started, of what happens before the promotion that hactl's own
// log lines do not show (Node's bootstrap, each bundle's compile and run, the flock(1) child, the
// driver's load, the lock socket, the database connection), plus every log line and the time
// spent in garbage collection. Written as JSON to $HACTL_TIMELINE_DIR/<pid>.json at exit.
// Diagnostic only: the hooks and node:perf_hooks (for the GC entries) cost a few ms themselves.
const hr = () => Number(process.hrtime.bigint()) / 1e6;
const origin = hr() - process.uptime() * 1000;
const marks = [];
const mark = (name) => marks.push([name, Math.round((hr() - origin) * 10) / 10]);
// Node's bootstrap is over: what a bare `node -e 0` does up to here, hactl does not control.
mark('node ready (preload runs)');

const fs = require('node:fs');
const vm = require('node:vm');
const childProcess = require('node:child_process');
const net = require('node:net');
const { PerformanceObserver } = require('node:perf_hooks');

const base = (file) => String(file ?? '').replace(/.*\//, '');

// src/load-cached.cjs compiles each bundle with vm.Script and runs the function it evaluates to.
const Script = vm.Script;
vm.Script = class extends Script {
  constructor(source, options) {
    const file = base(options?.filename);
    mark(`${file}: compile starts (source and caches read)`);
    super(source, options);
    // V8 sets cachedDataRejected only when it was handed a cache: false means it used it.
    const how =
      this.cachedDataRejected === false
        ? 'from its code cache'
        : this.cachedDataRejected === true
          ? 'its code cache REJECTED, compiled from source'
          : 'without a code cache';
    mark(`${file}: compiled (${how})`);
    this.timelineFile = file;
  }
  runInThisContext(...args) {
    const wrapper = super.runInThisContext(...args);
    const file = this.timelineFile;
    return function (...wrapperArgs) {
      mark(`${file}: top level runs`);
      try {
        return wrapper.apply(this, wrapperArgs);
      } finally {
        mark(`${file}: top level done`);
      }
    };
  }
};

const spawn = childProcess.spawn;
childProcess.spawn = function (command, ...rest) {
  mark(`spawn ${command}: call`);
  const child = spawn.call(this, command, ...rest);
  mark(`spawn ${command}: returned (child exec'd)`);
  child.once('exit', () => mark(`spawn ${command}: exit seen`));
  return child;
};

const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  mark('lock socket: listen');
  return listen.apply(this, args);
};

const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  mark('database: connect');
  this.once('connect', () => mark('database: connected'));
  return connect.apply(this, args);
};

// pino writes its lines with fs.writeSync (sync destinations): one mark per line, by event.
const writeSync = fs.writeSync;
fs.writeSync = function (fd, data, ...rest) {
  const event = typeof data === 'string' ? /"event":"([^"]+)"/.exec(data) : null;
  if (event) mark(`log ${event[1]}`);
  return writeSync.call(this, fd, data, ...rest);
};

let gcMs = 0;
let gcCount = 0;
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) {
    gcMs += entry.duration;
    gcCount++;
  }
}).observe({ entryTypes: ['gc'] });

process.on('exit', () => {
  mark('exit');
  const dir = process.env.HACTL_TIMELINE_DIR;
  if (!dir) return;
  try {
    fs.writeFileSync(`${dir}/${process.pid}.json`, JSON.stringify({ gcMs, gcCount, marks }));
  } catch {
    /* a diagnostic: never fail the run */
  }
});
