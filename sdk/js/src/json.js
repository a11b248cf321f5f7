/**
 * JSON without losing integers. Flyte integers are 64-bit; a JS number holds
 * integers exactly only up to 2^53, so plain JSON.parse would silently round
 * -4611686018427387904 to -4611686018427388000. Here integers outside
 * Number's safe range parse as BigInt, and BigInt values are written back as
 * exact JSON integers. Everything else is plain JSON.parse/JSON.stringify.
 */

const MARK = '\u0000hangar-bigint:';
const MARKED = /"\\u0000hangar-bigint:(-?\d+)"/g;
const LONG_DIGITS = /\d{16}/;

/** Big integer literals (outside strings) rewritten as marked strings. */
function markBigIntegers(text) {
  // A text shorter than 16 characters holds no 16-digit run: no need to run
  // the regular expression (in a reused component each call starts cold).
  if (text.length < 16 || !LONG_DIGITS.test(text)) return text;
  let out = '';
  let last = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i++;
      while (i < n && text.charCodeAt(i) !== 0x22) i += text.charCodeAt(i) === 0x5c /* \ */ ? 2 : 1;
      i++;
    } else if (c === 0x2d /* - */ || (c >= 0x30 && c <= 0x39)) {
      let j = i + 1;
      while (j < n && text.charCodeAt(j) >= 0x30 && text.charCodeAt(j) <= 0x39) j++;
      const next = text[j];
      if (next === '.' || next === 'e' || next === 'E') {
        while (j < n && /[0-9.eE+-]/.test(text[j])) j++;
      } else {
        const token = text.slice(i, j);
        if (!Number.isSafeInteger(Number(token))) {
          out += text.slice(last, i) + JSON.stringify(MARK + token);
          last = j;
        }
      }
      i = j;
    } else {
      i++;
    }
  }
  return out + text.slice(last);
}

/** JSON.parse, with unsafe integers as BigInt. */
export function parseJson(text) {
  const marked = markBigIntegers(text);
  if (marked === text) return JSON.parse(text);
  return JSON.parse(marked, (_key, value) =>
    typeof value === 'string' && value.startsWith(MARK) ? BigInt(value.slice(MARK.length)) : value,
  );
}

/**
 * JSON.stringify, with BigInt written as an exact integer. Plain
 * JSON.stringify first: it throws a TypeError on a BigInt, and only then is
 * the value written again with a replacer (called once per value, which on
 * QuickJS costs more than the rest of the call's JSON work).
 */
export function stringifyJson(value) {
  try {
    return JSON.stringify(value);
  } catch (e) {
    // A BigInt, or a cycle (which fails again below, with the same error).
    if (!(e instanceof TypeError)) throw e;
  }
  let sawBigInt = false;
  const text = JSON.stringify(value, (_key, v) => {
    if (typeof v !== 'bigint') return v;
    sawBigInt = true;
    return MARK + v.toString();
  });
  return sawBigInt ? text.replace(MARKED, '$1') : text;
}
