import { useState } from 'preact/hooks';
import type { Person } from '../api';

// Telegram's peer colours for initials avatars.
const COLORS = [
  ['#ff885e', '#ff516a'],
  ['#ffcd6a', '#ffa85c'],
  ['#82b1ff', '#665fff'],
  ['#a0de7e', '#54cb68'],
  ['#53edd6', '#28c9b7'],
  ['#72d5fd', '#2a9ef1'],
  ['#e0a2f3', '#d669ed'],
];

/** Stable colour per user: a cheap integer hash, so consecutive ids differ. */
function colorIndex(id: number): number {
  const n = Math.abs(Math.trunc(Number(id) || 0));
  const h = Math.imul((n ^ (n / 4294967296)) >>> 0, 2654435761) >>> 0;
  return (h >>> 13) % COLORS.length;
}

export function displayName(p: Pick<Person, 'username' | 'first_name'>, fallback: string): string {
  if (p.username) return '@' + p.username;
  if (p.first_name && p.first_name.trim()) return p.first_name.trim();
  return fallback;
}

function initials(p: Person): string {
  const src = (p.first_name || p.username || '').trim();
  if (!src) return '?';
  const words = src.split(/\s+/).filter(Boolean);
  const chars = words.length > 1 ? [words[0], words[1]].map((w) => Array.from(w)[0]) : Array.from(words[0]).slice(0, 1);
  return chars.join('').toUpperCase();
}

export function Avatar({ person, size = 40 }: { person: Person; size?: number }) {
  const [broken, setBroken] = useState(false);
  const [a, b] = COLORS[colorIndex(person.tg_id)];
  // Preact 11 no longer appends "px" to numeric style values.
  const style = { width: `${size}px`, height: `${size}px`, fontSize: `${Math.round(size * 0.4)}px` };
  if (person.photo_url && !broken) {
    return (
      <img
        class="avatar"
        style={style}
        src={person.photo_url}
        alt=""
        loading="lazy"
        decoding="async"
        referrerpolicy="no-referrer"
        onError={() => setBroken(true)}
      />
    );
  }
  return (
    <span class="avatar avatar-initials" style={{ ...style, background: `linear-gradient(160deg, ${a}, ${b})` }} aria-hidden="true">
      {initials(person)}
    </span>
  );
}
