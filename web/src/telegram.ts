// Telegram Mini App bridge: a small typed facade over the official SDK.
//
// The official telegram-web-app.js is bundled (see vite.config.ts: alias
// "telegram-web-app") so the page makes no third-party request. Importing it runs
// it, and it always defines window.Telegram.WebApp, inside Telegram or not (outside,
// initData is empty), so the facade needs no protocol code of its own.
import 'telegram-web-app';

export type InvoiceStatus = 'paid' | 'cancelled' | 'failed' | 'pending';
export type ImpactStyle = 'light' | 'medium' | 'heavy' | 'rigid' | 'soft';
export type NotificationType = 'error' | 'success' | 'warning';
export type ThemeParams = Record<string, string>;

export interface TgUser {
  id: number;
  first_name?: string;
  last_name?: string;
  username?: string;
  language_code?: string;
  photo_url?: string;
}

/** The subset of the SDK's Telegram.WebApp object this app uses. */
interface WebApp {
  initData: string;
  initDataUnsafe: { user?: TgUser };
  themeParams: ThemeParams;
  ready(): void;
  expand(): void;
  isVersionAtLeast(version: string): boolean;
  openInvoice(url: string, callback?: (status: InvoiceStatus) => void): void;
  openTelegramLink(url: string): void;
  onEvent(event: string, cb: (...args: unknown[]) => void): void;
  setHeaderColor(color: string): void;
  setBackgroundColor(color: string): void;
  BackButton: { show(): void; hide(): void; onClick(cb: () => void): void };
  HapticFeedback: {
    impactOccurred(style: ImpactStyle): void;
    notificationOccurred(type: NotificationType): void;
    selectionChanged(): void;
  };
}

declare global {
  interface Window {
    /** Set by the bundled telegram-web-app.js before any of our code runs. */
    Telegram: { WebApp: WebApp };
  }
}

/** Extracts the invoice slug from https://t.me/$slug or https://t.me/invoice/slug. */
export function invoiceSlug(link: string): string | null {
  const m = /^(?:https?:\/\/)?t\.me\/(?:\$|invoice\/)([A-Za-z0-9_=-]+)\/?$/.exec(link.trim());
  return m ? m[1] : null;
}

/** Builds the t.me/share/url link for Telegram's native share sheet. */
export function shareUrl(link: string, text: string): string {
  // Keep ":/?=" readable inside the url parameter (they are legal in a query
  // component); "&", "#", "+", "%" and spaces are escaped.
  const url = encodeURIComponent(link).replace(/%(3A|2F|3F|3D)/gi, (s) => decodeURIComponent(s));
  return `https://t.me/share/url?url=${url}&text=${encodeURIComponent(text)}`;
}

const webApp = window.Telegram.WebApp;

function luminanceDark(hex: string | undefined): boolean | null {
  const m = hex && /^#?([0-9a-f]{6})$/i.exec(hex);
  if (!m) return null;
  const n = parseInt(m[1], 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 120;
}

// One BackButton handler for the page's life; showBackButton() says what a press does.
let backHandler: (() => void) | null = null;
webApp.BackButton.onClick(() => backHandler?.());

export const tg = {
  initData: webApp.initData,
  user: webApp.initDataUnsafe.user ?? null,

  get themeParams(): ThemeParams {
    return webApp.themeParams;
  },
  /** 'dark' | 'light' from bg_color, or null when Telegram gave no theme. */
  get colorScheme(): 'dark' | 'light' | null {
    const dark = luminanceDark(this.themeParams.bg_color);
    return dark == null ? null : dark ? 'dark' : 'light';
  },

  ready() {
    webApp.ready();
  },
  expand() {
    webApp.expand();
  },

  /** Paints Telegram's header and the area behind the page in the page colour. */
  setChromeColor(themeKey: 'bg_color' | 'secondary_bg_color', hex: string) {
    try {
      if (webApp.isVersionAtLeast('6.1')) {
        webApp.setHeaderColor(themeKey);
        webApp.setBackgroundColor(hex);
      }
    } catch {
      /* cosmetic only */
    }
  },

  /** Calls cb on theme_changed (after the --tg-theme-* CSS variables were updated). */
  onThemeChanged(cb: () => void) {
    webApp.onEvent('themeChanged', cb);
  },

  /** Opens a Stars invoice; resolves with the status from invoice_closed. */
  openInvoice(link: string): Promise<InvoiceStatus> {
    return new Promise((resolve, reject) => {
      if (!invoiceSlug(link)) return reject(new Error('bad_invoice_link'));
      try {
        webApp.openInvoice(link.startsWith('http') ? link : `https://${link}`, resolve);
      } catch (e) {
        reject(e);
      }
    });
  },

  /** Opens a t.me link inside Telegram (e.g. the native share sheet). */
  openTelegramLink(url: string) {
    webApp.openTelegramLink(url);
  },

  /** Shows Telegram's BackButton; a press calls onPress. */
  showBackButton(onPress: () => void) {
    backHandler = onPress;
    webApp.BackButton.show();
  },
  hideBackButton() {
    backHandler = null;
    webApp.BackButton.hide();
  },

  haptic: {
    impact(style: ImpactStyle = 'light') {
      webApp.HapticFeedback.impactOccurred(style);
    },
    notify(type: NotificationType) {
      webApp.HapticFeedback.notificationOccurred(type);
    },
    selection() {
      webApp.HapticFeedback.selectionChanged();
    },
  },
};

/** True when the page was opened inside Telegram (it has signed init data). */
export const insideTelegram = tg.initData.length > 0;
