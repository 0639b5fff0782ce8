'use strict';

// Plain node, no test framework: `npm test` needs nothing downloaded.
const assert = require('node:assert');
const { add, mul } = require('./index.js');

const cases = [
  ['add(2, 3) is 5', () => assert.strictEqual(add(2, 3), 5)],
  ['add(-1, 1) is 0', () => assert.strictEqual(add(-1, 1), 0)],
  ['mul(4, 5) is 20', () => assert.strictEqual(mul(4, 5), 20)],
];

let failed = 0;
for (const [name, run] of cases) {
  try {
    run();
    console.log(`ok   ${name}`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e.message.split('\n')[0]}`);
  }
}
console.log(failed ? `${failed} failing` : 'all passing');
process.exit(failed ? 1 : 0);
