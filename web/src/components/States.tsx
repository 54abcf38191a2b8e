import { errorText, type ApiError } from '../errors';
import { t } from '../i18n';
import { AlertIcon } from './icons';

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
