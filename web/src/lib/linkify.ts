// Split user text into plain-text and link segments. Only http(s) URLs become
// links; everything is rendered as text by the caller (never as HTML).
//
// A link must not pass for another (docs/security.md, finding 7): a URL that
// holds a bidi control or an invisible character, or a user name before its
// host (https://www.bank.com@evil.example/), stays plain text; a host that is
// not plain ASCII is shown in punycode, as the browser resolves it, so
// https://раураl.com (Cyrillic) does not read as paypal.com.

export type Segment = { kind: 'text'; text: string } | { kind: 'link'; text: string; href: string };

const URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
const TRAILING_PUNCT = /[.,;:!?'"\]}>]+$/;
/**
 * Characters that are invisible or reorder text: bidi controls, zero-width
 * and other default-ignorable characters (which include the Hangul fillers),
 * format, control, private-use and unassigned characters, the Braille blank.
 */
const HIDDEN = /[\p{Bidi_Control}\p{Default_Ignorable_Code_Point}\p{Cf}\p{Cc}\p{Co}\p{Cn}\u2800]/u;

function trimUrl(raw: string): string {
  let url = raw;
  for (;;) {
    const before = url;
    url = url.replace(TRAILING_PUNCT, '');
    // Drop an unbalanced closing parenthesis, e.g. "(see https://x.org/a)".
    if (url.endsWith(')')) {
      const open = (url.match(/\(/g) ?? []).length;
      const close = (url.match(/\)/g) ?? []).length;
      if (close > open) url = url.slice(0, -1);
    }
    if (url === before) return url;
  }
}

export function safeHref(candidate: string): string | null {
  if (HIDDEN.test(candidate)) return null;
  try {
    const u = new URL(candidate);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    if (!u.hostname) return null;
    if (u.username || u.password) return null;
    return u.href;
  } catch {
    return null;
  }
}

/**
 * The link's text as typed, but with its host as the browser resolves it
 * (punycode) when the typed host is not plain ASCII.
 */
export function shownUrl(typed: string, href: string): string {
  const scheme = typed.indexOf('://') + 3;
  const end = typed.slice(scheme).search(/[/?#]/);
  const typedHost = end < 0 ? typed.slice(scheme) : typed.slice(scheme, scheme + end);
  if (/^[\x21-\x7e]*$/.test(typedHost)) return typed;
  const u = new URL(href);
  return `${u.protocol}//${u.host}${typed.slice(scheme + typedHost.length)}`;
}

/**
 * The bidi overrides, U+202D and U+202E: the only bidi controls that reverse
 * letters, and with no use in a chat line but to make text read as something
 * else ("\u202E/moc.knab.www//:sptth" reads "https://www.bank.com/"). Text is
 * shown without them, in the order it was typed; embeddings, isolates and
 * marks stay, as right-to-left writing needs them.
 */
const OVERRIDES = /[\u202D\u202E]/g;

export function withoutOverrides(text: string): string {
  return text.replace(OVERRIDES, '');
}

export function linkify(text: string): Segment[] {
  const out: Segment[] = [];
  let last = 0;
  const push = (t: string) => {
    if (!t) return;
    const prev = out[out.length - 1];
    const shown = withoutOverrides(t);
    if (prev && prev.kind === 'text') prev.text += shown;
    else out.push({ kind: 'text', text: shown });
  };
  // Links are found in the text as sent, so that an override inside a URL
  // keeps it from being a link; the overrides go from the text shown.
  for (const m of text.matchAll(URL_RE)) {
    const start = m.index ?? 0;
    const url = trimUrl(m[0]);
    const href = safeHref(url);
    push(text.slice(last, start));
    if (href) out.push({ kind: 'link', text: shownUrl(url, href), href });
    else push(url);
    last = start + url.length;
  }
  push(text.slice(last));
  return out;
}
