// 64-bit integers survive the JSON boundary (`node --test sdk/js/test/`).

import assert from 'node:assert/strict';
import { test } from 'node:test';

import { parseJson, stringifyJson } from '../src/json.js';

test('unsafe integers parse as BigInt, everything else as usual', () => {
  const text = '{"big":-4611686018427387904,"max":9223372036854775807,"n":42,"f":1.5e300,"x":12345678901234567.5,"s":"-4611686018427387904","a":[9007199254740993]}';
  const value = parseJson(text);
  assert.equal(value.big, -4611686018427387904n);
  assert.equal(value.max, 9223372036854775807n);
  assert.equal(value.n, 42);
  assert.equal(value.f, 1.5e300);
  assert.equal(typeof value.x, 'number');
  assert.equal(value.s, '-4611686018427387904');
  assert.deepEqual(value.a, [9007199254740993n]);
  assert.equal(stringifyJson(value), '{"big":-4611686018427387904,"max":9223372036854775807,"n":42,"f":1.5e+300,"x":12345678901234568,"s":"-4611686018427387904","a":[9007199254740993]}');
});

test('strings with escaped quotes and digits are left alone', () => {
  const text = '{"k\\"1234567890123456789":"\\"9999999999999999999\\"","v":[1,"2"]}';
  assert.deepEqual(parseJson(text), JSON.parse(text));
  assert.equal(stringifyJson({ a: 1n, b: 'x' }), '{"a":1,"b":"x"}');
});
