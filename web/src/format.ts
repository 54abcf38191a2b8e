// Exact decimal helpers (tons are decimal strings; rounding as the server's) and date formatting.
import type { Lang } from './i18n';

interface Dec {
  int: bigint; // value * 10^scale
  scale: number;
}

function parseDec(s: string): Dec | null {
  const m = /^\s*(-?)(\d*)(?:\.(\d*))?\s*$/.exec(String(s));
  if (!m || (!m[2] && !m[3])) return null;
  const frac = m[3] ?? '';
  const int = BigInt((m[2] || '0') + frac);
  return { int: m[1] ? -int : int, scale: frac.length };
}

const pow10 = (n: number) => 10n ** BigInt(n);

/** a > b for decimal strings; false if either does not parse. */
export function decGreater(a: string, b: string): boolean {
  const x = parseDec(a);
  const y = parseDec(b);
  if (!x || !y) return false;
  const s = Math.max(x.scale, y.scale);
  return x.int * pow10(s - x.scale) > y.int * pow10(s - y.scale);
}

/**
 * stars * tonsPerStar, rounded to `decimals` places as the server rounds it
 * (`tons.rounding`: down | half_up | half_even | up, symmetric around zero), as a decimal string.
 */
export function tonsForStars(stars: number, tonsPerStar: string, decimals: number, rounding: string = 'down'): string {
  const rate = parseDec(tonsPerStar);
  if (!rate || !Number.isFinite(stars)) return '';
  const d = Math.max(0, Math.floor(decimals));
  let v = BigInt(Math.trunc(stars)) * rate.int; // scale = rate.scale
  const neg = v < 0n;
  if (neg) v = -v;
  if (rate.scale > d) {
    const div = pow10(rate.scale - d);
    const rest = v % div;
    v = v / div; // truncates: "down"
    const twice = rest * 2n;
    if (
      (rounding === 'up' && rest > 0n) ||
      (rounding === 'half_up' && twice >= div) ||
      (rounding === 'half_even' && (twice > div || (twice === div && v % 2n === 1n)))
    )
      v += 1n;
  } else v = v * pow10(d - rate.scale);
  const digits = v.toString().padStart(d + 1, '0');
  const ip = digits.slice(0, digits.length - d);
  const fp = digits.slice(digits.length - d);
  return (neg && v > 0n ? '-' : '') + ip + (d ? '.' + fp : '');
}

/** A decimal string without trailing fractional zeros ("1.50" -> "1.5", "2.00" -> "2"). */
export function trimZeros(value: string): string {
  return value.includes('.') ? value.replace(/0+$/, '').replace(/\.$/, '') : value;
}

/** "12345.50" -> "12 345,50" (ru) / "12,345.50" (en). Keeps the server's digits. */
export function formatTons(value: string | null | undefined, lang: Lang): string {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(String(value ?? '').trim());
  if (!m) return value ? String(value) : '0';
  const group = lang === 'ru' ? '\u202f' : ',';
  const point = lang === 'ru' ? ',' : '.';
  const ip = m[2].replace(/\B(?=(\d{3})+(?!\d))/g, group);
  return m[1] + ip + (m[3] ? point + m[3] : '');
}

/** Whole number with thousands grouping. */
export function formatInt(n: number, lang: Lang): string {
  return formatTons(String(Math.trunc(n)), lang);
}

/** Calendar range of a week from ISO start/end (end exclusive), in the server's zone. */
export function formatWeekRange(startIso: string, endIso: string, lang: Lang): string {
  // Take the calendar dates as written (with the server's offset), not in the viewer's zone.
  const day = (iso: string) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})/.exec(iso);
    return m ? Date.UTC(+m[1], +m[2] - 1, +m[3]) : NaN;
  };
  const start = day(startIso);
  let end = day(endIso);
  if (Number.isNaN(start) || Number.isNaN(end)) return '';
  // week_end is exclusive when it is midnight of the following day
  if (/T00:00(:00(\.0+)?)?/.test(endIso) && end > start) end -= 86_400_000;
  const loc = lang === 'ru' ? 'ru-RU' : 'en-GB';
  const dm = new Intl.DateTimeFormat(loc, { day: 'numeric', month: 'short', timeZone: 'UTC' });
  const d = new Intl.DateTimeFormat(loc, { day: 'numeric', timeZone: 'UTC' });
  const sameMonth = new Date(start).getUTCMonth() === new Date(end).getUTCMonth();
  return `${sameMonth ? d.format(start) : dm.format(start)} – ${dm.format(end)}`;
}

export interface Remaining {
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
  done: boolean;
}

export function remaining(endIso: string, now = Date.now()): Remaining | null {
  const end = Date.parse(endIso);
  if (Number.isNaN(end)) return null;
  let s = Math.max(0, Math.floor((end - now) / 1000));
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const hours = Math.floor(s / 3600);
  s -= hours * 3600;
  const minutes = Math.floor(s / 60);
  return { days, hours, minutes, seconds: s - minutes * 60, done: end <= now };
}
