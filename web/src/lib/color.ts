// Avatar colours come from the server; pick a readable text colour for them and
// apply both through the CSSOM (allowed under CSP, unlike style attributes).

const FALLBACK = '#5c6bc0';

function parseHex(color: string): [number, number, number] | null {
  const m = /^#([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(color.trim());
  if (!m) return null;
  let h = m[1];
  if (h.length === 3) h = h.replace(/./g, (c) => c + c);
  return [parseInt(h.slice(0, 2), 16), parseInt(h.slice(2, 4), 16), parseInt(h.slice(4, 6), 16)];
}

function luminance([r, g, b]: [number, number, number]): number {
  const f = (c: number) => {
    const s = c / 255;
    return s <= 0.03928 ? s / 12.92 : ((s + 0.055) / 1.055) ** 2.4;
  };
  return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
}

/** Black or white, whichever contrasts more with the background. */
export function textColorFor(bg: string): string {
  const rgb = parseHex(bg);
  if (!rgb) return '#ffffff';
  const L = luminance(rgb);
  return (L + 0.05) / 0.05 > 1.05 / (L + 0.05) ? '#000000' : '#ffffff';
}

export function avatarColor(color: string | null | undefined): string {
  return color && parseHex(color) ? color : FALLBACK;
}

/** Svelte action: `use:avatarStyle={color}`. */
export function avatarStyle(node: HTMLElement, color: string | null | undefined) {
  const apply = (c: string | null | undefined) => {
    const bg = avatarColor(c);
    node.style.setProperty('background-color', bg);
    node.style.setProperty('color', textColorFor(bg));
  };
  apply(color);
  return { update: apply };
}
