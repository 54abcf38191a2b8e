// Telegram Mini App bridge.
//
// The official telegram-web-app.js is bundled (see vite.config.ts: alias
// "telegram-web-app") so the page makes no third-party request. Everything the
// app needs goes through the small typed facade below. If window.Telegram.WebApp
// is missing for any reason, the facade falls back to speaking the documented
// postEvent protocol itself (https://core.telegram.org/api/web-events), so the
// app keeps working.
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

/** The subset of the official Telegram.WebApp object this app uses. */
interface OfficialWebApp {
  initData: string;
  initDataUnsafe: { user?: TgUser; start_param?: string };
  version: string;
  platform: string;
  colorScheme: 'light' | 'dark';
  themeParams: ThemeParams;
  ready(): void;
  expand(): void;
  isVersionAtLeast(version: string): boolean;
  openInvoice(url: string, callback?: (status: InvoiceStatus) => void): void;
  openTelegramLink(url: string): void;
  onEvent(event: string, cb: (...args: unknown[]) => void): void;
  setHeaderColor(color: string): void;
  setBackgroundColor(color: string): void;
  BackButton: { show(): void; hide(): void; onClick(cb: () => void): void; offClick(cb: () => void): void };
  HapticFeedback: {
    impactOccurred(style: ImpactStyle): void;
    notificationOccurred(type: NotificationType): void;
    selectionChanged(): void;
  };
}

type EventHandler = (eventType: string, eventData: any) => void;

declare global {
  interface Window {
    Telegram?: {
      WebApp?: OfficialWebApp;
      WebView?: {
        receiveEvent: EventHandler;
        onEvent?: (type: string, cb: EventHandler) => void;
        initParams?: Record<string, string>;
      };
    };
    TelegramWebviewProxy?: { postEvent(eventType: string, eventData: string): void };
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

// ---------------------------------------------------------------------------
// Fallback bridge: used only when the official script did not define WebApp.

function parseHashParams(): Record<string, string> {
  const out: Record<string, string> = {};
  const hash = location.hash.replace(/^#/, '');
  for (const part of hash.split('&')) {
    if (!part) continue;
    const i = part.indexOf('=');
    const dec = (s: string) => {
      try {
        return decodeURIComponent(s.replace(/\+/g, '%20'));
      } catch {
        return s;
      }
    };
    if (i < 0) out[dec(part)] = '';
    else out[dec(part.slice(0, i))] = dec(part.slice(i + 1));
  }
  return out;
}

function createFallback() {
  const params = parseHashParams();
  const listeners = new Map<string, EventHandler[]>();
  const isIframe = window.parent != null && window.parent !== window;

  const post = (eventType: string, eventData: unknown = '') => {
    try {
      if (window.TelegramWebviewProxy) {
        window.TelegramWebviewProxy.postEvent(eventType, JSON.stringify(eventData));
      } else if (window.external && 'notify' in window.external) {
        // Windows Phone / legacy desktop bridge
        (window.external as unknown as { notify(s: string): void }).notify(JSON.stringify({ eventType, eventData }));
      } else if (isIframe) {
        window.parent.postMessage(JSON.stringify({ eventType, eventData }), '*');
      }
    } catch {
      /* not inside Telegram: nothing to talk to */
    }
  };
  const receive: EventHandler = (type, data) => {
    for (const cb of listeners.get(type) ?? []) {
      try {
        cb(type, data);
      } catch {
        /* keep dispatching */
      }
    }
  };
  const on = (type: string, cb: EventHandler) => {
    listeners.set(type, [...(listeners.get(type) ?? []), cb]);
  };
  window.Telegram = window.Telegram ?? {};
  window.Telegram.WebView = { receiveEvent: receive, onEvent: on, initParams: params };
  if (isIframe) {
    window.addEventListener('message', (e) => {
      if (e.source !== window.parent) return;
      try {
        const d = JSON.parse(e.data);
        if (d && d.eventType) receive(d.eventType, d.eventData);
      } catch {
        /* not ours */
      }
    });
  }

  const setVar = (name: string, value: string) => document.documentElement.style.setProperty(`--tg-${name}`, value);
  let themeParams: ThemeParams = {};
  const applyTheme = (tp: ThemeParams) => {
    themeParams = { ...tp };
    for (const [k, v] of Object.entries(tp)) setVar(`theme-${k.replace(/_/g, '-')}`, v);
  };
  const applyInsets = (prefix: string, d: Record<string, number>) => {
    for (const side of ['top', 'bottom', 'left', 'right']) setVar(`${prefix}-inset-${side}`, `${d?.[side] ?? 0}px`);
  };
  try {
    if (params.tgWebAppThemeParams) applyTheme(JSON.parse(params.tgWebAppThemeParams));
  } catch {
    /* ignore malformed theme */
  }
  on('theme_changed', (_t, d) => d?.theme_params && applyTheme(d.theme_params));
  on('viewport_changed', (_t, d) => {
    if (d?.height) setVar('viewport-height', `${d.height}px`);
    if (d?.height && d.is_state_stable) setVar('viewport-stable-height', `${d.height}px`);
  });
  on('safe_area_changed', (_t, d) => applyInsets('safe-area', d));
  on('content_safe_area_changed', (_t, d) => applyInsets('content-safe-area', d));

  const user = (() => {
    try {
      const u = new URLSearchParams(params.tgWebAppData ?? '').get('user');
      return u ? (JSON.parse(u) as TgUser) : undefined;
    } catch {
      return undefined;
    }
  })();
  const startParam = new URLSearchParams(params.tgWebAppData ?? '').get('start_param') ?? params.tgWebAppStartParam;

  post('web_app_request_theme');
  post('web_app_request_viewport');
  post('web_app_request_safe_area');
  post('web_app_request_content_safe_area');

  return {
    post,
    on,
    initData: params.tgWebAppData ?? '',
    user,
    startParam,
    version: params.tgWebAppVersion ?? '6.0',
    platform: params.tgWebAppPlatform ?? 'unknown',
    themeParams: () => themeParams,
  };
}

// ---------------------------------------------------------------------------
// Facade

const official = window.Telegram?.WebApp;
const fallback = official ? null : createFallback();

function luminanceDark(hex: string | undefined): boolean | null {
  const m = hex && /^#?([0-9a-f]{6})$/i.exec(hex);
  if (!m) return null;
  const n = parseInt(m[1], 16);
  const [r, g, b] = [(n >> 16) & 255, (n >> 8) & 255, n & 255];
  return 0.2126 * r + 0.7152 * g + 0.0722 * b < 120;
}

let backHandler: (() => void) | null = null;
const onBackPressed = () => backHandler?.();
if (official) official.BackButton.onClick(onBackPressed);
else fallback!.on('back_button_pressed', onBackPressed);

const invoiceWaiters = new Map<string, (s: InvoiceStatus) => void>();
fallback?.on('invoice_closed', (_t, d) => {
  const cb = d?.slug && invoiceWaiters.get(d.slug);
  if (cb) {
    invoiceWaiters.delete(d.slug);
    cb(d.status);
  }
});

export const tg = {
  usesOfficialSdk: !!official,
  initData: official ? official.initData : fallback!.initData,
  user: (official ? official.initDataUnsafe.user : fallback!.user) ?? null,
  startParam: (official ? official.initDataUnsafe.start_param : fallback!.startParam) ?? null,
  platform: official ? official.platform : fallback!.platform,
  version: official ? official.version : fallback!.version,

  get themeParams(): ThemeParams {
    return official ? official.themeParams : fallback!.themeParams();
  },
  /** 'dark' | 'light' from bg_color, or null when Telegram gave no theme. */
  get colorScheme(): 'dark' | 'light' | null {
    const dark = luminanceDark(this.themeParams.bg_color);
    return dark == null ? null : dark ? 'dark' : 'light';
  },

  ready() {
    if (official) official.ready();
    else fallback!.post('web_app_ready');
  },
  expand() {
    if (official) official.expand();
    else fallback!.post('web_app_expand');
  },

  /** Paints Telegram's header and the area behind the page in the page colour. */
  setChromeColor(themeKey: 'bg_color' | 'secondary_bg_color', hex: string) {
    try {
      if (official) {
        if (official.isVersionAtLeast('6.1')) {
          official.setHeaderColor(themeKey);
          official.setBackgroundColor(hex);
        }
      } else {
        fallback!.post('web_app_set_header_color', { color_key: themeKey });
        fallback!.post('web_app_set_background_color', { color: hex });
      }
    } catch {
      /* cosmetic only */
    }
  },

  /** Calls cb on theme_changed (after the --tg-theme-* CSS variables were updated). */
  onThemeChanged(cb: () => void) {
    if (official) official.onEvent('themeChanged', cb);
    else fallback!.on('theme_changed', () => cb());
  },

  /** Opens a Stars invoice; resolves with the status from invoice_closed. */
  openInvoice(link: string): Promise<InvoiceStatus> {
    return new Promise((resolve, reject) => {
      const slug = invoiceSlug(link);
      if (!slug) return reject(new Error('bad_invoice_link'));
      if (official) {
        try {
          official.openInvoice(link.startsWith('http') ? link : `https://${link}`, (status) => resolve(status));
        } catch (e) {
          reject(e);
        }
        return;
      }
      invoiceWaiters.set(slug, resolve);
      fallback!.post('web_app_open_invoice', { slug });
    });
  },

  /** Opens a t.me link inside Telegram (e.g. the native share sheet). */
  openTelegramLink(url: string) {
    if (official) {
      official.openTelegramLink(url);
      return;
    }
    const u = new URL(url);
    fallback!.post('web_app_open_tg_link', { path_full: u.pathname + u.search });
  },

  /** Shows Telegram's BackButton; a press calls onPress. */
  showBackButton(onPress: () => void) {
    backHandler = onPress;
    if (official) official.BackButton.show();
    else fallback!.post('web_app_setup_back_button', { is_visible: true });
  },
  hideBackButton() {
    backHandler = null;
    if (official) official.BackButton.hide();
    else fallback!.post('web_app_setup_back_button', { is_visible: false });
  },

  haptic: {
    impact(style: ImpactStyle = 'light') {
      if (official) official.HapticFeedback.impactOccurred(style);
      else fallback!.post('web_app_trigger_haptic_feedback', { type: 'impact', impact_style: style });
    },
    notify(type: NotificationType) {
      if (official) official.HapticFeedback.notificationOccurred(type);
      else fallback!.post('web_app_trigger_haptic_feedback', { type: 'notification', notification_type: type });
    },
    selection() {
      if (official) official.HapticFeedback.selectionChanged();
      else fallback!.post('web_app_trigger_haptic_feedback', { type: 'selection_change' });
    },
  },
};

/** True when the page was opened inside Telegram (it has signed init data). */
export const insideTelegram = tg.initData.length > 0;
