// Theme: Telegram theme params -> CSS variables (live), plus a "lite" mode
// without blur and heavy animation for slow devices / reduced motion.
import { tg, type ThemeParams } from './telegram';

// Telegram's own default palettes, used when the client sent no theme
// (older clients, or a desktop browser while developing).
const LIGHT: ThemeParams = {
  bg_color: '#ffffff',
  secondary_bg_color: '#f1f1f4',
  section_bg_color: '#ffffff',
  text_color: '#000000',
  hint_color: '#8e8e93',
  link_color: '#2481cc',
  button_color: '#2481cc',
  button_text_color: '#ffffff',
  accent_text_color: '#2481cc',
  destructive_text_color: '#e53935',
  subtitle_text_color: '#8e8e93',
};
const DARK: ThemeParams = {
  bg_color: '#17212b',
  secondary_bg_color: '#0e1621',
  section_bg_color: '#17212b',
  text_color: '#f5f5f5',
  hint_color: '#708499',
  link_color: '#6ab3f3',
  button_color: '#5288c1',
  button_text_color: '#ffffff',
  accent_text_color: '#6ab2f2',
  destructive_text_color: '#ec3942',
  subtitle_text_color: '#708499',
};

function rgb(hex: string | undefined): [number, number, number] | null {
  const m = hex && /^#?([0-9a-f]{3}|[0-9a-f]{6})$/i.exec(hex.trim());
  if (!m) return null;
  let h = m[1];
  if (h.length === 3) h = h.replace(/./g, (c) => c + c);
  const n = parseInt(h, 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

const rgba = (c: [number, number, number], a: number) => `rgba(${c[0]},${c[1]},${c[2]},${a})`;
const lum = (c: [number, number, number]) => (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;

function systemDark(): boolean {
  return !!window.matchMedia?.('(prefers-color-scheme: dark)').matches;
}

/** Writes the app's --lq-* variables derived from the current theme. */
export function applyTheme(): void {
  const given = tg.themeParams;
  const dark = tg.colorScheme ? tg.colorScheme === 'dark' : systemDark();
  const tp: ThemeParams = { ...(dark ? DARK : LIGHT), ...given };
  const col = (k: string) => rgb(tp[k]) ?? rgb((dark ? DARK : LIGHT)[k])!;

  const bg = col('bg_color');
  const sbg = col('secondary_bg_color');
  const section = col('section_bg_color');
  const text = col('text_color');
  const accent = col('button_color');
  const root = document.documentElement;
  const s = root.style;

  s.setProperty('--lq-bg', rgba(sbg, 1));
  s.setProperty('--lq-bg-2', rgba(bg, 1));
  s.setProperty('--lq-text', rgba(text, 1));
  s.setProperty('--lq-hint', tp.hint_color);
  s.setProperty('--lq-link', tp.link_color);
  s.setProperty('--lq-accent', rgba(accent, 1));
  s.setProperty('--lq-accent-text', tp.button_text_color);
  s.setProperty('--lq-accent-soft', rgba(accent, dark ? 0.22 : 0.12));
  s.setProperty('--lq-accent-glow', rgba(accent, dark ? 0.45 : 0.35));
  s.setProperty('--lq-accent-ink', tp.accent_text_color || tp.link_color);
  s.setProperty('--lq-danger', tp.destructive_text_color);
  // Glass: the section colour, translucent, over a softly tinted backdrop.
  s.setProperty('--lq-glass', rgba(section, dark ? 0.58 : 0.62));
  s.setProperty('--lq-glass-strong', rgba(section, dark ? 0.82 : 0.86));
  s.setProperty('--lq-glass-solid', rgba(section, 1));
  s.setProperty('--lq-inset', rgba(dark ? sbg : bg, dark ? 0.6 : 0.78));
  s.setProperty('--lq-bg-fade', rgba(sbg, 0.88));
  s.setProperty('--lq-stroke', rgba(lum(text) > 0.5 ? [255, 255, 255] : [0, 0, 0], dark ? 0.1 : 0.06));
  s.setProperty('--lq-highlight', dark ? 'rgba(255,255,255,0.08)' : 'rgba(255,255,255,0.7)');
  s.setProperty('--lq-sep', rgba(text, dark ? 0.08 : 0.07));
  s.setProperty('--lq-shadow', dark ? 'rgba(0,0,0,0.45)' : 'rgba(30,40,70,0.12)');
  s.setProperty('--lq-scrim', dark ? 'rgba(0,0,0,0.5)' : 'rgba(20,24,40,0.28)');
  s.setProperty('--lq-blob-1', rgba(accent, dark ? 0.42 : 0.4));
  s.setProperty('--lq-blob-2', rgba(col('link_color'), dark ? 0.28 : 0.24));
  s.setProperty('--lq-blob-3', dark ? 'rgba(190,120,255,0.2)' : 'rgba(255,170,90,0.22)');
  root.classList.toggle('dark', dark);
  root.style.colorScheme = dark ? 'dark' : 'light';
  const sbgHex = '#' + sbg.map((v) => v.toString(16).padStart(2, '0')).join('');
  document.querySelector('meta[name="theme-color"]')?.setAttribute('content', sbgHex);
  tg.setChromeColor('secondary_bg_color', sbgHex);
}

/** Slow device or reduced motion: no blur, no ambient animation. */
export function isLiteDevice(): boolean {
  const nav = navigator as Navigator & { deviceMemory?: number };
  const cores = nav.hardwareConcurrency;
  const mem = nav.deviceMemory;
  // Telegram for Android appends the device performance class to its UA,
  // e.g. "Telegram-Android/11.4.2 (Samsung SM-A125F; Android 12; SDK 31; LOW)".
  const lowClass = /Telegram-Android\/[^(]*\([^)]*\bLOW\)/i.test(nav.userAgent);
  const reduced = !!window.matchMedia?.('(prefers-reduced-motion: reduce)').matches;
  return lowClass || reduced || (cores != null && cores <= 4) || (mem != null && mem <= 2);
}

export function initTheme(): void {
  applyTheme();
  tg.onThemeChanged(applyTheme);
  window.matchMedia?.('(prefers-color-scheme: dark)').addEventListener?.('change', () => {
    if (!tg.colorScheme) applyTheme();
  });
  document.documentElement.classList.toggle('lite', isLiteDevice());
}
