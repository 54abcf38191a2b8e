import type { ApiError } from '../api';
import { t } from '../i18n';
import { AlertIcon } from './icons';

// Server error codes whose meaning the user needs in their own words (the server's
// `message` is English prose for developers, never shown as is).
const TELEGRAM_CODES = new Set(['telegram_unavailable', 'bot_starting', 'bot_unavailable']);
const AMOUNT_CODES = new Set(['amount_out_of_range', 'invalid_amount', 'missing_amount', 'invalid_preset', 'preset_mismatch']);

/** What to tell the user about a failed request; `topup` for create-invoice. */
export function errorText(e: ApiError | null, context: 'board' | 'topup' = 'board'): string {
  if (!e) return t('errorGeneric');
  if (e.status === 0) return t('errorNetwork');
  if (e.code === 'user_blocked') return t(context === 'topup' ? 'topupBlocked' : 'errorBlocked');
  if (e.status === 401 || e.status === 403) return t('errorAuth');
  if (e.status === 429) return e.retryAfter ? t('tooMany', { sec: e.retryAfter }) : t('tooManyNoTime');
  // bot_starting / bot_unavailable: the server's bot is not up (yet), a 503 like Telegram being down
  if (TELEGRAM_CODES.has(e.code)) return t('telegramUnavailable');
  if (AMOUNT_CODES.has(e.code)) return t('amountChanged');
  return t('errorGeneric');
}

/** The top-up limits the page knows may be stale (the server refused the amount). */
export const isAmountError = (e: ApiError | null) => !!e && AMOUNT_CODES.has(e.code);

export function SkeletonRows({ count = 8 }: { count?: number }) {
  return (
    <div class="card list" data-testid="board-loading" aria-busy="true" aria-label={t('loading')}>
      {Array.from({ length: count }, (_, i) => (
        <div class="row skeleton" key={i} style={{ opacity: 1 - i * 0.09 }}>
          <span class="sk sk-rank" />
          <span class="sk sk-avatar" />
          <span class="row-main">
            <span class="sk sk-line" style={{ width: `${46 + ((i * 37) % 30)}%` }} />
          </span>
          <span class="sk sk-amount" />
        </div>
      ))}
    </div>
  );
}

export function EmptyState({ text }: { text: string }) {
  return (
    <div class="card state" data-testid="board-empty">
      <div class="state-emoji" aria-hidden="true">
        <span class="orb" />
      </div>
      <div class="state-title">{t('emptyTitle')}</div>
      <div class="state-text">{text}</div>
    </div>
  );
}

export function ErrorState({ error, onRetry }: { error: ApiError | null; onRetry: () => void }) {
  return (
    <div class="card state" data-testid="board-error" role="alert">
      <div class="state-icon danger">
        <AlertIcon />
      </div>
      <div class="state-title">{t('errorTitle')}</div>
      <div class="state-text">{errorText(error)}</div>
      <button class="btn btn-glass" data-testid="retry" onClick={onRetry}>
        {t('retry')}
      </button>
    </div>
  );
}
