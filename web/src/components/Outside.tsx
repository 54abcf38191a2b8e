import { t } from '../i18n';

export function Outside() {
  return (
    <main class="outside" data-testid="outside-telegram">
      <div class="card state outside-card">
        <div class="outside-logo" aria-hidden="true">
          <svg width="40" height="40" viewBox="0 0 24 24">
            <path
              fill="currentColor"
              d="M21.4 3.6L2.9 10.7c-1.3.5-1.2 1.2-.2 1.5l4.7 1.5 1.8 5.6c.2.6.4.9.9.9.4 0 .6-.2.9-.4l2.3-2.2 4.7 3.5c.9.5 1.5.2 1.7-.8l3.1-14.6c.3-1.3-.5-1.9-1.4-1.5zM9.5 14.2l8.6-7.6c.4-.3-.1-.5-.6-.2L7.9 13.1"
            />
          </svg>
        </div>
        <div class="state-title">{t('outsideTitle')}</div>
        <div class="state-text">{t('outsideText')}</div>
      </div>
    </main>
  );
}
