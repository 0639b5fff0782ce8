'use strict';

// A tiny calculator.  add() has the bug that the demo's issue describes.
function add(a, b) {
  return a - b;
}

function mul(a, b) {
  return a * b;
}

module.exports = { add, mul };
