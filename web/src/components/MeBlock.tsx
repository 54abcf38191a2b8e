import type { Person } from '../api';
import type { MyPlace, TabId } from '../boards';
import { formatInt } from '../format';
import { lang, plural, t } from '../i18n';
import { Avatar, displayName } from './Avatar';
import { Amount } from './Row';

interface Props {
  tab: TabId;
  person: Person | null;
  place: MyPlace | null;
  loading: boolean;
  onClick: () => void;
}

export function MeBlock({ tab, person, place, loading, onClick }: Props) {
  const rank = place?.rank ?? null;
  const amount = place?.amount ?? '0';
  const referrals = tab === 'referrals';
  return (
    <button
      class={'me' + (loading && !place ? ' me-loading' : '')}
      data-testid="me-block"
      data-rank={rank ?? ''}
      onClick={onClick}
      aria-live="polite"
    >
      {person ? <Avatar person={person} size={36} /> : <span class="avatar sk" style={{ width: '36px', height: '36px' }} />}
      <span class="me-main">
        <span class="me-title">{rank != null ? t('youShort', { rank }) : t('you') + ': —'}</span>
        <span class="me-sub">
          {rank == null && !loading
            ? referrals
              ? t('notRankedReferrals')
              : t('notRankedHint')
            : referrals
              ? `${formatInt(place?.count ?? 0, lang)} ${plural('referrals', place?.count ?? 0)}`
              : person
                ? displayName(person, '')
                : ''}
        </span>
      </span>
      <Amount value={amount} />
    </button>
  );
}
