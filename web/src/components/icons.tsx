// Inline SVG icons (no external images).

import { Fragment } from 'preact';

export function StarIcon({ size = 16 }: { size?: number }) {
  return (
    <svg class="i-star" width={size} height={size} viewBox="0 0 24 24" aria-hidden="true">
      <path
        fill="#ffb31a"
        d="M12 2.2c.4 0 .8.2 1 .6l2.6 5.3 5.8.8c.9.1 1.3 1.3.6 1.9l-4.2 4.1 1 5.8c.2.9-.8 1.6-1.6 1.2L12 19.1l-5.2 2.8c-.8.4-1.8-.3-1.6-1.2l1-5.8L2 10.8c-.7-.6-.3-1.8.6-1.9l5.8-.8L11 2.8c.2-.4.6-.6 1-.6z"
      />
    </svg>
  );
}

/** A text with ⭐ in it, the star drawn as the icon: a system font may lack the emoji
 * (a missing-glyph box).  Texts that Telegram renders (the invoice title) keep the emoji. */
export function StarText({ text }: { text: string }) {
  const parts = text.split('⭐');
  return (
    <>
      {parts.map((part, i) => (
        <Fragment key={i}>
          {i > 0 && <StarIcon size={14} />}
          {part}
        </Fragment>
      ))}
    </>
  );
}

export function CloseIcon() {
  return (
    <svg width="14" height="14" viewBox="0 0 14 14" aria-hidden="true">
      <path d="M2 2l10 10M12 2L2 12" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

export function PlusIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 18 18" aria-hidden="true">
      <path d="M9 3v12M3 9h12" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" />
    </svg>
  );
}

export function ShareIcon() {
  return (
    <svg width="18" height="18" viewBox="0 0 24 24" aria-hidden="true">
      <path
        d="M12 3v12M12 3l-4.5 4.5M12 3l4.5 4.5M5 13v5a2 2 0 002 2h10a2 2 0 002-2v-5"
        fill="none"
        stroke="currentColor"
        stroke-width="2.2"
        stroke-linecap="round"
        stroke-linejoin="round"
      />
    </svg>
  );
}

export function CheckIcon() {
  return (
    <svg width="44" height="44" viewBox="0 0 44 44" aria-hidden="true">
      <path
        class="check-path"
        d="M12 23l7 7 13-15"
        fill="none"
        stroke="currentColor"
        stroke-width="4"
        stroke-linecap="round"
        stroke-linejoin="round"
      />
    </svg>
  );
}

export function AlertIcon() {
  return (
    <svg width="22" height="22" viewBox="0 0 24 24" aria-hidden="true">
      <circle cx="12" cy="12" r="10" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="M12 7v6M12 16.5v.5" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" />
    </svg>
  );
}

export function PeopleIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true">
      <circle cx="9" cy="8" r="3.5" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="M2.5 20c.8-3.6 3.4-5.5 6.5-5.5s5.7 1.9 6.5 5.5" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
      <path d="M16 4.8a3.3 3.3 0 010 6.4M18 14.8c1.9.7 3.1 2.4 3.5 5.2" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}

export function ClockIcon() {
  return (
    <svg width="16" height="16" viewBox="0 0 24 24" aria-hidden="true">
      <circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2" />
      <path d="M12 7v5l3 2" fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" />
    </svg>
  );
}
