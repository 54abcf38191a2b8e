// Leaderboard state for the three tabs: first page, "show more", silent refresh.
import { useCallback, useRef, useState } from 'preact/hooks';
import { api, type Person, type Tons } from './api';
import { toApiError, type ApiError } from './errors';

export type TabId = 'all' | 'week' | 'referrals';
export const TABS: TabId[] = ['all', 'week', 'referrals'];
export const PAGE_SIZE = 50;

export interface RowData extends Person {
  rank: number;
  amount: Tons;
  /** referrals tab only */
  count?: number;
  weekAmount?: Tons;
}

export interface MyPlace {
  rank: number | null;
  amount: Tons;
  count?: number;
}

export interface WeekInfo {
  key: string;
  start: string;
  end: string;
}

export interface BoardState {
  status: 'idle' | 'loading' | 'ready' | 'error';
  rows: RowData[];
  next: number | null;
  me: MyPlace | null;
  week: WeekInfo | null;
  error: ApiError | null;
  more: 'idle' | 'loading' | 'error';
}

const empty = (): BoardState => ({
  status: 'idle',
  rows: [],
  next: null,
  me: null,
  week: null,
  error: null,
  more: 'idle',
});

interface Fetched {
  rows: RowData[];
  next: number | null;
  me: MyPlace | null;
  week: WeekInfo | null;
}

const person = (p: Person): Person => ({
  tg_id: p.tg_id,
  username: p.username ?? null,
  first_name: p.first_name ?? null,
  photo_url: p.photo_url ?? null,
});

async function fetchPage(tab: TabId, offset: number): Promise<Fetched> {
  if (tab === 'all') {
    const p = await api.allTime(offset, PAGE_SIZE);
    return {
      rows: p.items.map((i) => ({ ...person(i), rank: i.rank, amount: i.tons_total })),
      next: p.next_offset,
      me: p.me ? { rank: p.me.rank, amount: p.me.tons_total } : null,
      week: null,
    };
  }
  if (tab === 'week') {
    const p = await api.week(offset, PAGE_SIZE);
    return {
      rows: p.items.map((i) => ({ ...person(i), rank: i.rank, amount: i.tons_week })),
      next: p.next_offset,
      me: p.me ? { rank: p.me.rank, amount: p.me.tons_week } : null,
      week: { key: p.week_key, start: p.week_start, end: p.week_end },
    };
  }
  const p = await api.referrals(offset, PAGE_SIZE, 'all');
  return {
    rows: p.items.map((i) => ({
      ...person(i),
      rank: i.rank,
      amount: i.referrals_tons_total,
      count: i.referrals_count,
      weekAmount: i.referrals_tons_week,
    })),
    next: p.next_offset,
    me: p.me ? { rank: p.me.rank, amount: p.me.referrals_tons_total, count: p.me.referrals_count } : null,
    week: null,
  };
}

export function useBoards() {
  const [boards, setBoards] = useState<Record<TabId, BoardState>>({
    all: empty(),
    week: empty(),
    referrals: empty(),
  });
  // A newer request for a tab makes older in-flight answers for it obsolete.
  const gen = useRef<Record<TabId, number>>({ all: 0, week: 0, referrals: 0 });

  const patch = (tab: TabId, fn: (b: BoardState) => BoardState) =>
    setBoards((all) => ({ ...all, [tab]: fn(all[tab]) }));

  /** Loads the first page. `silent` keeps what is shown until the answer arrives. */
  const load = useCallback(async (tab: TabId, silent = false) => {
    const g = ++gen.current[tab];
    if (!silent) patch(tab, (b) => ({ ...b, status: 'loading', error: null }));
    try {
      const f = await fetchPage(tab, 0);
      if (g !== gen.current[tab]) return;
      patch(tab, () => ({ ...empty(), status: 'ready', ...f }));
    } catch (e) {
      if (g !== gen.current[tab]) return;
      patch(tab, (b) => (silent && b.status === 'ready' ? b : { ...b, status: 'error', error: toApiError(e) }));
    }
  }, []);

  const current = useRef(boards);
  current.current = boards;

  /** Appends the next page ("show more"). */
  const more = useCallback(
    async (tab: TabId) => {
      const b = current.current[tab];
      const offset = b.next;
      if (offset == null || b.more === 'loading') return;
      const g = gen.current[tab];
      patch(tab, (x) => ({ ...x, more: 'loading' }));
      try {
        const f = await fetchPage(tab, offset);
        if (g !== gen.current[tab]) return;
        patch(tab, (b) => {
          const seen = new Set(b.rows.map((r) => r.tg_id));
          return {
            ...b,
            rows: [...b.rows, ...f.rows.filter((r) => !seen.has(r.tg_id))],
            next: f.next,
            me: f.me ?? b.me,
            more: 'idle',
          };
        });
      } catch {
        if (g !== gen.current[tab]) return;
        patch(tab, (b) => ({ ...b, more: 'error' }));
      }
    },
    [],
  );

  /** Reloads every tab silently (after a payment all three may have changed). */
  const refreshAll = useCallback(() => {
    for (const tab of TABS) void load(tab, true);
  }, [load]);

  return { boards, load, more, refreshAll };
}
