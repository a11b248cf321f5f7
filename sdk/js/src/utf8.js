/**
 * UTF-8 to and from bytes, for the SDK's metadata (JSON text as
 * `resource-meta`). Node and componentize-js (SpiderMonkey) have
 * `TextEncoder`/`TextDecoder`; QuickJS (componentize-qjs) has neither, so
 * the SDK uses the engine's own when it has them and this module's coder
 * otherwise (encoding through the engine's base64 functions where it can).
 * Decoding is strict: bytes that are not well-formed UTF-8 throw, as
 * `new TextDecoder('utf-8', { fatal: true })` does.
 */

/** `text` (a JS string) as UTF-8 bytes; a lone surrogate becomes U+FFFD. */
function encodeUtf8(text) {
  const out = [];
  for (let i = 0; i < text.length; i++) {
    let c = text.charCodeAt(i);
    if (c < 0x80) {
      out.push(c);
      continue;
    }
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < text.length) {
      const low = text.charCodeAt(i + 1);
      if (low >= 0xdc00 && low <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (low - 0xdc00);
        i++;
      }
    }
    if (c >= 0xd800 && c <= 0xdfff) c = 0xfffd;
    if (c < 0x800) out.push(0xc0 | (c >> 6), 0x80 | (c & 0x3f));
    else if (c < 0x10000) out.push(0xe0 | (c >> 12), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
    else out.push(0xf0 | (c >> 18), 0x80 | ((c >> 12) & 0x3f), 0x80 | ((c >> 6) & 0x3f), 0x80 | (c & 0x3f));
  }
  return new Uint8Array(out);
}

/** `bytes` as text; throws a TypeError naming the offset of a malformed sequence. */
function decodeUtf8(bytes) {
  let text = '';
  let i = 0;
  const bad = () => {
    throw new TypeError(`the bytes are not valid UTF-8 (at byte ${i})`);
  };
  const next = (j) => {
    const b = bytes[j];
    if (j >= bytes.length || (b & 0xc0) !== 0x80) bad();
    return b & 0x3f;
  };
  while (i < bytes.length) {
    const b = bytes[i];
    let c;
    let size;
    if (b < 0x80) {
      c = b;
      size = 1;
    } else if (b >= 0xc2 && b <= 0xdf) {
      c = ((b & 0x1f) << 6) | next(i + 1);
      size = 2;
    } else if (b >= 0xe0 && b <= 0xef) {
      c = ((b & 0x0f) << 12) | (next(i + 1) << 6) | next(i + 2);
      if (c < 0x800 || (c >= 0xd800 && c <= 0xdfff)) bad();
      size = 3;
    } else if (b >= 0xf0 && b <= 0xf4) {
      c = ((b & 0x07) << 18) | (next(i + 1) << 12) | (next(i + 2) << 6) | next(i + 3);
      if (c < 0x10000 || c > 0x10ffff) bad();
      size = 4;
    } else {
      bad();
    }
    text += String.fromCodePoint(c);
    i += size;
  }
  return text;
}

/**
 * `text` as UTF-8 bytes through the engine's own functions, for an engine
 * without TextEncoder that has `btoa` and `Uint8Array.fromBase64` (QuickJS
 * in componentize-qjs): `encodeURIComponent` writes the UTF-8 bytes as
 * `%XX`, `unescape` turns each into one character of that code, and base64
 * carries those characters into a Uint8Array. Four native calls instead of
 * an interpreted loop per character: a reused echo's whole create call took
 * 12% less fuel (docs/performance.md). A lone surrogate makes
 * `encodeURIComponent` throw; the loop then writes it as U+FFFD, as
 * TextEncoder does.
 */
function encodeUtf8Natively(text) {
  let binary;
  try {
    binary = unescape(encodeURIComponent(text));
  } catch {
    return encodeUtf8(text);
  }
  return Uint8Array.fromBase64(btoa(binary));
}

/** Whether this engine has what `encodeUtf8Natively` uses. */
function hasNativeBridge() {
  return typeof btoa === 'function' && typeof unescape === 'function' && typeof Uint8Array.fromBase64 === 'function';
}

/** The engine's encoder if it has one, else this module's. */
export const utf8 =
  typeof TextEncoder === 'function' && typeof TextDecoder === 'function'
    ? (() => {
        const encoder = new TextEncoder();
        const decoder = new TextDecoder('utf-8', { fatal: true });
        return { encode: (text) => encoder.encode(text), decode: (bytes) => decoder.decode(bytes) };
      })()
    : { encode: hasNativeBridge() ? encodeUtf8Natively : encodeUtf8, decode: decodeUtf8 };

/** This module's own encoder, whatever the engine has (for tests). */
export const portableUtf8 = { encode: encodeUtf8, decode: decodeUtf8 };

/** The encoder through native functions, and whether it can run here (for tests). */
export const nativeBridgeUtf8 = { encode: encodeUtf8Natively, available: () => hasNativeBridge() };
