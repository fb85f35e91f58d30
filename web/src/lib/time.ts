// Time formatting helpers (local time zone of the browser).

const timeFmt = new Intl.DateTimeFormat(undefined, { hour: '2-digit', minute: '2-digit' });
const dateTimeFmt = new Intl.DateTimeFormat(undefined, {
  month: 'short',
  day: 'numeric',
  hour: '2-digit',
  minute: '2-digit',
});
const fullFmt = new Intl.DateTimeFormat(undefined, { dateStyle: 'full', timeStyle: 'medium' });
const rtf = new Intl.RelativeTimeFormat(undefined, { numeric: 'auto' });

export function parseTime(iso: string | null | undefined): number {
  if (!iso) return NaN;
  return Date.parse(iso);
}

function sameDay(a: Date, b: Date): boolean {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}

/** Short local time, with the date when it is not today. */
export function formatMessageTime(iso: string, now = Date.now()): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return '';
  const d = new Date(t);
  return sameDay(d, new Date(now)) ? timeFmt.format(d) : dateTimeFmt.format(d);
}

export function formatFull(iso: string): string {
  const t = parseTime(iso);
  return Number.isNaN(t) ? '' : fullFmt.format(new Date(t));
}

/** "just now", "5 minutes ago", "yesterday"... */
export function formatRelative(iso: string | null | undefined, now = Date.now()): string {
  const t = parseTime(iso);
  if (Number.isNaN(t)) return 'a while ago';
  const sec = Math.round((t - now) / 1000);
  const abs = Math.abs(sec);
  if (abs < 45) return 'just now';
  if (abs < 3600) return rtf.format(Math.round(sec / 60), 'minute');
  if (abs < 86_400) return rtf.format(Math.round(sec / 3600), 'hour');
  return rtf.format(Math.round(sec / 86_400), 'day');
}
