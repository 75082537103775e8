'use strict';
// Stands in for assert inside dist/notify.cjs, where only sonic-boom calls it (assert(value, message)
// on close). Node's assert loads util/colors, which sets up process.stderr, on every start.
function assert(value, message) {
  if (!value) throw new Error(typeof message === 'string' ? message : 'assertion failed');
}
assert.ok = assert;
module.exports = assert;
