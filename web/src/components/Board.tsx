import type { BoardState, TabId } from '../boards';
import { t } from '../i18n';
import { Row } from './Row';
import { EmptyState, ErrorState, SkeletonRows } from './States';

interface Props {
  tab: TabId;
  board: BoardState;
  myId: number | null;
  onRetry: () => void;
  onMore: () => void;
}

const EMPTY = { all: 'emptyAll', week: 'emptyWeek', referrals: 'emptyReferrals' } as const;

export function Board({ tab, board, myId, onRetry, onMore }: Props) {
  if (board.status === 'idle' || (board.status === 'loading' && !board.rows.length)) return <SkeletonRows />;
  if (board.status === 'error') return <ErrorState error={board.error} onRetry={onRetry} />;
  if (!board.rows.length) return <EmptyState text={t(EMPTY[tab])} />;
  return (
    <>
      <div class="card list" data-testid={`board-${tab}`}>
        {board.rows.map((r) => (
          <Row key={r.tg_id} row={r} mine={r.tg_id === myId} referrals={tab === 'referrals'} />
        ))}
      </div>
      {board.next != null && (
        <button
          class={'btn btn-glass more' + (board.more === 'loading' ? ' busy' : '')}
          data-testid="show-more"
          disabled={board.more === 'loading'}
          onClick={onMore}
        >
          {board.more === 'loading' ? <span class="spinner" /> : null}
          {board.more === 'error' ? t('retry') : t('showMore')}
        </button>
      )}
    </>
  );
}
