// Typed client for the tondonate HTTP API. Every request carries
// `Authorization: tma <initData>`; the server validates the signature.
import { ApiError, ErrorCode } from './errors';
import { tg } from './telegram';

/** Decimal string, e.g. "12.50". Never parsed to float for arithmetic. */
export type Tons = string;

export interface Preset {
  id: 'place1' | 'place2' | 'place3' | string;
  stars: number;
}

export interface Config {
  presets: Preset[];
  min_stars: number;
  max_stars: number;
  tons_per_star: Tons;
  tons_decimals: number;
  /** down | half_up | half_even | up: how the server rounds tons (tonsForStars must agree). */
  tons_rounding: string;
  bot_username: string | null;
  week_key: string;
  /** Seconds since the rate was fetched from its source; null for a rate that is not
   * fetched (the static one, or the default when no rate was ever fetched). */
  rate_age_seconds: number | null;
  /** Set here, not by the server: when the answer arrived (Date.now()), so the age keeps counting. */
  received_ms?: number;
}

export interface Person {
  tg_id: number;
  username: string | null;
  first_name: string | null;
  photo_url: string | null;
}

export interface Me extends Person {
  tons_total: Tons;
  tons_week: Tons;
  rank_all_time: number | null;
  rank_week: number | null;
  referrals_count: number;
  referrals_tons_total: Tons;
  referrals_tons_week: Tons;
  rank_referrals: number | null;
  referrer_id: number | null;
  /** null while the server does not know the bot's username (getMe failed). */
  referral_link: string | null;
  week_key: string;
}

export interface AllTimeItem extends Person {
  rank: number;
  tons_total: Tons;
}
export interface WeekItem extends Person {
  rank: number;
  tons_week: Tons;
}
export interface ReferralItem extends Person {
  rank: number;
  referrals_count: number;
  referrals_tons_total: Tons;
  referrals_tons_week: Tons;
}

interface Page<T, M> {
  items: T[];
  limit: number;
  offset: number;
  next_offset: number | null;
  me: M | null;
}
export type AllTimePage = Page<AllTimeItem, { rank: number | null; tons_total: Tons }>;
export type WeekPage = Page<WeekItem, { rank: number | null; tons_week: Tons }> & {
  week_key: string;
  week_start: string;
  week_end: string;
};
export type ReferralsPage = Page<
  ReferralItem,
  { rank: number | null; referrals_count: number; referrals_tons_total: Tons; referrals_tons_week: Tons }
>;

export interface Invoice {
  invoice_id: string | number;
  invoice_link: string;
  stars_amount: number;
  tons_amount: Tons;
}

// Relative to the page, so the app also works behind a path prefix.
const BASE = 'api/';

async function request<T>(path: string, init: RequestInit = {}): Promise<T> {
  let res: Response;
  try {
    res = await fetch(BASE + path, {
      ...init,
      headers: {
        Accept: 'application/json',
        Authorization: `tma ${tg.initData}`,
        ...(init.body ? { 'Content-Type': 'application/json' } : {}),
        ...init.headers,
      },
    });
  } catch {
    throw new ApiError(0, ErrorCode.network, '');
  }
  const data = await res.json().catch(() => null);
  if (!res.ok) {
    const err = data?.error ?? {};
    const ra = Number(res.headers.get('Retry-After'));
    throw new ApiError(
      res.status,
      typeof err.code === 'string' ? err.code : 'http_' + res.status,
      typeof err.message === 'string' ? err.message : '',
      Number.isFinite(ra) && ra > 0 ? ra : null,
    );
  }
  if (data == null) throw new ApiError(res.status, ErrorCode.badResponse, '');
  return data as T;
}

const qs = (p: Record<string, string | number | undefined>) =>
  Object.entries(p)
    .filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(String(v))}`)
    .join('&');

export const api = {
  config: () => request<Config>('config').then((c) => ({ ...c, received_ms: Date.now() })),
  me: () => request<Me>('me'),
  allTime: (offset: number, limit: number) => request<AllTimePage>(`leaderboard/all-time?${qs({ limit, offset })}`),
  week: (offset: number, limit: number, weekKey?: string) =>
    request<WeekPage>(`leaderboard/week?${qs({ week_key: weekKey, limit, offset })}`),
  referrals: (offset: number, limit: number, period: 'all' | 'week' = 'all') =>
    request<ReferralsPage>(`leaderboard/referrals?${qs({ limit, offset, period })}`),
  createInvoice: (body: { preset_id: string } | { stars_amount: number }) =>
    request<Invoice>('payments/create-invoice', { method: 'POST', body: JSON.stringify(body) }),
};
