import type { RowData } from '../boards';
import { formatInt, formatTons } from '../format';
import { lang, plural, t, tonsUnit } from '../i18n';
import { Avatar, displayName } from './Avatar';
import { PeopleIcon } from './icons';

export function RankBadge({ rank }: { rank: number | null }) {
  const medal = rank != null && rank <= 3 ? ` medal medal-${rank}` : '';
  return <span class={'rank' + medal}>{rank == null ? '—' : rank}</span>;
}

export function Amount({ value, strong = true }: { value: string; strong?: boolean }) {
  return (
    <span class={'amount' + (strong ? ' strong' : '')}>
      <span class="amount-num">{formatTons(value, lang)}</span>
      <span class="amount-unit">{tonsUnit(value)}</span>
    </span>
  );
}

export function Row({ row, mine, referrals }: { row: RowData; mine: boolean; referrals: boolean }) {
  return (
    <div
      class={'row' + (mine ? ' mine' : '') + (row.rank <= 3 ? ' podium' : '')}
      data-testid={`row-${row.tg_id}`}
      data-rank={row.rank}
    >
      <RankBadge rank={row.rank} />
      <Avatar person={row} />
      <span class="row-main">
        <span class="row-name">
          <span class="row-name-text" dir="auto">
            {displayName(row, t('anonymous'))}
          </span>
          {mine && <span class="you-chip">{t('you')}</span>}
        </span>
        {referrals && (
          <span class="row-sub">
            <PeopleIcon />
            {formatInt(row.count ?? 0, lang)} {plural('referrals', row.count ?? 0)}
          </span>
        )}
      </span>
      <Amount value={row.amount} />
    </div>
  );
}
