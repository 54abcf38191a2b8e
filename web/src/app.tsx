import { useCallback, useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import { api, type Config, type Me, type Person } from './api';
import type { ApiError } from './errors';
import { TABS, useBoards, type MyPlace, type TabId } from './boards';
import { decGreater } from './format';
import { t } from './i18n';
import { shareUrl, tg } from './telegram';
import { Board } from './components/Board';
import { InviteCard } from './components/InviteCard';
import { MeBlock } from './components/MeBlock';
import { Tabs } from './components/Tabs';
import { TopUpModal } from './components/TopUpModal';
import { WeekInfo } from './components/WeekInfo';
import { PlusIcon } from './components/icons';

const POLL_EVERY_MS = 1500;
const POLL_FOR_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function myPlace(tab: TabId, fromBoard: MyPlace | null, me: Me | null): MyPlace | null {
  if (fromBoard) return fromBoard;
  if (!me) return null;
  if (tab === 'all') return { rank: me.rank_all_time, amount: me.tons_total };
  if (tab === 'week') return { rank: me.rank_week, amount: me.tons_week };
  return { rank: me.rank_referrals, amount: me.referrals_tons_total, count: me.referrals_count };
}

export function App() {
  const [tab, setTab] = useState<TabId>('all');
  const [config, setConfig] = useState<Config | null>(null);
  const [configError, setConfigError] = useState<ApiError | null>(null);
  const [me, setMe] = useState<Me | null>(null);
  const [meLoading, setMeLoading] = useState(true);
  const [modal, setModal] = useState(false);
  const { boards, load, more } = useBoards();
  const meRef = useRef(me);
  meRef.current = me;
  const dock = useRef<HTMLDivElement>(null);

  const loadConfig = useCallback(() => {
    setConfigError(null);
    api.config().then(setConfig, (e: ApiError) => setConfigError(e));
  }, []);
  const loadMe = useCallback(async () => {
    try {
      const m = await api.me();
      setMe(m);
      return m;
    } catch {
      return null;
    } finally {
      setMeLoading(false);
    }
  }, []);

  useEffect(() => {
    loadConfig();
    void loadMe();
  }, []);

  // First visit of a tab loads it; later visits refresh it silently, and /me with it
  // (the invite card's counts and the dock must agree with the refreshed board).
  useEffect(() => {
    const b = boards[tab];
    if (b.status === 'idle') void load(tab);
    else if (b.status === 'ready') {
      void load(tab, true);
      void loadMe();
    }
  }, [tab]);

  // Keep the list clear of the fixed dock, whatever its height.
  useLayoutEffect(() => {
    const el = dock.current;
    if (!el) return undefined;
    const set = () => document.documentElement.style.setProperty('--dock-h', `${el.offsetHeight}px`);
    set();
    const ro = typeof ResizeObserver !== 'undefined' ? new ResizeObserver(set) : null;
    ro?.observe(el);
    return () => ro?.disconnect();
  }, []);

  const switchTab = (next: TabId) => {
    if (next === tab) return;
    tg.haptic.selection();
    setTab(next);
    window.scrollTo({ top: 0, behavior: 'instant' as ScrollBehavior });
  };

  /** After `paid`: poll /me until the bot has credited the donation, then refresh. */
  const onPaid = useCallback(async (): Promise<Me | null> => {
    const before = meRef.current?.tons_total ?? null;
    const until = Date.now() + POLL_FOR_MS;
    let credited: Me | null = null;
    while (Date.now() < until) {
      await sleep(POLL_EVERY_MS);
      try {
        const m = await api.me();
        setMe(m);
        if (before == null || decGreater(m.tons_total, before)) {
          credited = m;
          break;
        }
      } catch {
        /* keep polling */
      }
    }
    for (const id of TABS) void load(id, true);
    return credited;
  }, []);

  // The server builds the link (it knows the bot and the Mini App's short name);
  // while it cannot (null), the invite button is disabled.
  const invite = () => {
    const link = me?.referral_link;
    if (!link) return;
    tg.haptic.impact('light');
    tg.openTelegramLink(shareUrl(link, t('inviteCta')));
  };

  const openTopUp = () => {
    tg.haptic.impact('medium');
    if (!config) loadConfig();
    setModal(true);
  };

  const scrollToMe = () => {
    tg.haptic.impact('soft');
    const id = me?.tg_id ?? tg.user?.id;
    const row = id != null ? document.querySelector(`[data-testid="row-${id}"]`) : null;
    row?.scrollIntoView({ behavior: 'smooth', block: 'center' });
  };

  const board = boards[tab];
  const person: Person | null = me ?? (tg.user ? { tg_id: tg.user.id, username: tg.user.username ?? null, first_name: tg.user.first_name ?? null, photo_url: tg.user.photo_url ?? null } : null);
  const myId = me?.tg_id ?? tg.user?.id ?? null;

  return (
    <>
      <div class="backdrop" aria-hidden="true">
        <span class="blob b1" />
        <span class="blob b2" />
        <span class="blob b3" />
      </div>
      <header class="appbar">
        <Tabs active={tab} onChange={switchTab} />
      </header>
      <div id="panel" class="panel" role="tabpanel" aria-labelledby={`tab-${tab}`} key={tab}>
        {tab === 'week' && (board.week || board.status !== 'error') && <WeekInfo week={board.week} onWeekOver={() => { void load('week', true); void loadMe(); }} />}
        {tab === 'referrals' && <InviteCard me={me} onInvite={invite} />}
        <Board
          tab={tab}
          board={board}
          myId={myId}
          onRetry={() => {
            void load(tab);
            if (!me) void loadMe();
          }}
          onMore={() => void more(tab)}
        />
      </div>
      <div class="dock" ref={dock}>
        <div class="dock-inner">
          <MeBlock
            tab={tab}
            person={person}
            place={myPlace(tab, board.me, me)}
            loading={meLoading || board.status === 'loading'}
            onClick={scrollToMe}
          />
          <button class="btn btn-accent topup" data-testid="topup" onClick={openTopUp}>
            <PlusIcon />
            {t('topup')}
          </button>
        </div>
      </div>
      {modal && (
        <TopUpModal
          config={config}
          configError={configError}
          onRetryConfig={loadConfig}
          onRefreshConfig={loadConfig}
          onClose={() => setModal(false)}
          onPaid={onPaid}
        />
      )}
    </>
  );
}
