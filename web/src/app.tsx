// The app: tabs, the board of the active tab, the dock («Вы: #X» and «Пополнить»),
// the top-up sheet. State lives in the hooks (useConfig, useMe, useBoards,
// usePayment); this file composes them.
import { useEffect, useLayoutEffect, useRef, useState } from 'preact/hooks';
import type { Me, Person } from './api';
import { useBoards, type MyPlace, type TabId } from './boards';
import { useConfig } from './config';
import { t } from './i18n';
import { useMe } from './me';
import { usePayment } from './payment';
import { shareUrl, tg } from './telegram';
import { Board } from './components/Board';
import { InviteCard } from './components/InviteCard';
import { MeBlock } from './components/MeBlock';
import { Tabs } from './components/Tabs';
import { TopUpModal } from './components/TopUpModal';
import { WeekInfo } from './components/WeekInfo';
import { PlusIcon } from './components/icons';

const FIRST_TAB: TabId = 'all';

function myPlace(tab: TabId, fromBoard: MyPlace | null, me: Me | null): MyPlace | null {
  if (fromBoard) return fromBoard;
  if (!me) return null;
  if (tab === 'all') return { rank: me.rank_all_time, amount: me.tons_total };
  if (tab === 'week') return { rank: me.rank_week, amount: me.tons_week };
  return { rank: me.rank_referrals, amount: me.referrals_tons_total, count: me.referrals_count };
}

export function App() {
  const [tab, setTab] = useState<TabId>(FIRST_TAB);
  const [sheetOpen, setSheetOpen] = useState(false);
  const { config, error: configError, reload: reloadConfig } = useConfig();
  const { me, loading: meLoading, reload: reloadMe, waitForCredit } = useMe();
  const { boards, load, more, refreshAll } = useBoards();
  const payment = usePayment({ waitForCredit, refreshConfig: reloadConfig, refreshBoards: refreshAll });
  const dock = useRef<HTMLDivElement>(null);

  useEffect(() => {
    void load(FIRST_TAB);
  }, [load]);

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
    // The first visit of a tab loads it; later visits refresh it silently, and /me
    // with it (the invite card's counts and the dock must agree with the board).
    const { status } = boards[next];
    if (status === 'idle') void load(next);
    else if (status === 'ready') {
      void load(next, true);
      void reloadMe();
    }
  };

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
    if (!config) reloadConfig();
    setSheetOpen(true);
  };
  const closeTopUp = () => {
    payment.end();
    setSheetOpen(false);
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
        {tab === 'week' && (board.week || board.status !== 'error') && <WeekInfo week={board.week} onWeekOver={() => { void load('week', true); void reloadMe(); }} />}
        {tab === 'referrals' && <InviteCard me={me} onInvite={invite} />}
        <Board
          tab={tab}
          board={board}
          myId={myId}
          onRetry={() => {
            void load(tab);
            if (!me) void reloadMe();
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
      {sheetOpen && (
        <TopUpModal
          config={config}
          configError={configError}
          onRetryConfig={reloadConfig}
          payment={payment}
          onClose={closeTopUp}
        />
      )}
    </>
  );
}
