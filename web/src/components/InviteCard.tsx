import type { Me } from '../api';
import { formatInt } from '../format';
import { lang, t } from '../i18n';
import { Amount } from './Row';
import { ShareIcon } from './icons';

export function InviteCard({ me, onInvite }: { me: Me | null; onInvite: () => void }) {
  return (
    <div class="card invite">
      <div class="invite-glow" aria-hidden="true" />
      <div class="invite-title">{t('inviteTitle')}</div>
      <div class="invite-text">{t('inviteText')}</div>
      <div class="invite-stats">
        <div class="stat">
          <span class="stat-label">{t('yourReferrals')}</span>
          <span class="stat-value" data-testid="my-referrals-count">
            {me ? formatInt(me.referrals_count, lang) : '—'}
          </span>
        </div>
        <div class="stat">
          <span class="stat-label">{t('theirTons')}</span>
          <span class="stat-value">{me ? <Amount value={me.referrals_tons_total} /> : '—'}</span>
        </div>
      </div>
      <button class="btn btn-accent" data-testid="invite" onClick={onInvite} disabled={!me?.referral_link}>
        <ShareIcon />
        {t('inviteButton')}
      </button>
    </div>
  );
}
