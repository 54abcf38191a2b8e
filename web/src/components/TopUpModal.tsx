// The top-up sheet: packages, a custom amount, and the payment's progress. What
// happens on a tap (invoice, Telegram, waiting for the credit) is usePayment's.
import { useEffect, useRef, useState } from 'preact/hooks';
import type { Config } from '../api';
import { errorText, type ApiError } from '../errors';
import { formatInt, formatTons, tonsForStars, trimZeros } from '../format';
import { lang, presetLabel, rateAge, t, tonsUnit } from '../i18n';
import type { Payment } from '../payment';
import { tg } from '../telegram';
import { CheckIcon, CloseIcon, StarIcon, StarText } from './icons';

interface Props {
  config: Config | null;
  configError: ApiError | null;
  onRetryConfig: () => void;
  payment: Payment;
  /** After the closing animation. */
  onClose: () => void;
}

const withUnit = (tons: string) => `${formatTons(tons, lang)} ${tonsUnit(tons)}`;

function validate(raw: string, cfg: Config): { stars: number | null; error: string | null } {
  const s = raw.trim();
  if (!s) return { stars: null, error: null };
  if (!/^\d+$/.test(s)) return { stars: null, error: t('customNotInt') };
  const n = Number(s);
  if (n < cfg.min_stars) return { stars: null, error: t('customTooSmall', { min: formatInt(cfg.min_stars, lang) }) };
  if (n > cfg.max_stars) return { stars: null, error: t('customTooBig', { max: formatInt(cfg.max_stars, lang) }) };
  return { stars: n, error: null };
}

export function TopUpModal({ config, configError, onRetryConfig, payment, onClose }: Props) {
  const { phase, notice, busy, pay, dismissNotice } = payment;
  // The button whose payment is under way: it shows the spinner.
  const busyKey = phase.kind === 'creating' || phase.kind === 'awaiting' ? phase.key : null;
  const [custom, setCustom] = useState('');
  const [touched, setTouched] = useState(false);
  const [leaving, setLeaving] = useState(false);

  const close = () => {
    if (leaving) return;
    setLeaving(true);
    setTimeout(onClose, document.documentElement.classList.contains('lite') ? 0 : 220);
  };
  const closeRef = useRef(close);
  closeRef.current = close;

  useEffect(() => {
    tg.showBackButton(() => closeRef.current());
    const onKey = (e: KeyboardEvent) => e.key === 'Escape' && closeRef.current();
    document.addEventListener('keydown', onKey);
    document.body.classList.add('modal-open');
    return () => {
      tg.hideBackButton();
      document.removeEventListener('keydown', onKey);
      document.body.classList.remove('modal-open');
    };
  }, []);

  const v = config ? validate(custom, config) : { stars: null, error: null };
  const customTons = config && v.stars ? tonsForStars(v.stars, config.tons_per_star, config.tons_decimals, config.tons_rounding) : '';

  let body;
  if (phase.kind === 'thanks') {
    body = (
      <div class="thanks" data-testid="thanks" data-result={phase.result}>
        <div class="thanks-badge">
          <CheckIcon />
        </div>
        <div class="thanks-title">{t('thanksTitle')}</div>
        <div class="thanks-text">
          {phase.result === 'polling' && (
            <>
              <span class="spinner" /> {t('thanksText', { tons: withUnit(phase.tons) })}
            </>
          )}
          {phase.result === 'credited' && (
            <>
              {t('thanksCredited', { tons: withUnit(phase.tons) })}
              {phase.rank != null && (
                <>
                  <br />
                  <b data-testid="thanks-rank">{t('thanksPlace', { rank: phase.rank })}</b>
                </>
              )}
            </>
          )}
          {phase.result === 'slow' && t('thanksSlow')}
        </div>
        <button class="btn btn-accent wide" data-testid="thanks-done" onClick={close}>
          {t('done')}
        </button>
      </div>
    );
  } else if (!config) {
    body = configError ? (
      <div class="sheet-state">
        <div class="state-text">{errorText(configError)}</div>
        <button class="btn btn-glass" data-testid="retry-config" onClick={onRetryConfig}>
          {t('retry')}
        </button>
      </div>
    ) : (
      <div class="sheet-state">
        <span class="spinner big" />
      </div>
    );
  } else {
    // The rate itself, not a rounded credit: "1 ⭐ = 0,0125 тона" even at 2 decimals.
    const rateTons = trimZeros(tonsForStars(1, config.tons_per_star, Math.max(config.tons_decimals, 4)));
    // A fetched rate's age as of now: the server's answer plus the time since it arrived.
    const ageSeconds =
      config.rate_age_seconds == null
        ? null
        : config.rate_age_seconds + (config.received_ms ? (Date.now() - config.received_ms) / 1000 : 0);
    body = (
      <>
        <div class="rate">
          <StarText text={t('rate', { tons: withUnit(rateTons) })} />
          {ageSeconds != null && <span data-testid="rate-age"> · {rateAge(ageSeconds)}</span>}
        </div>
        {busy && (
          <div class="notice info" role="status" data-testid="topup-status">
            {phase.kind === 'creating' ? t('creating') : t('awaiting')}
          </div>
        )}
        {notice && !busy && (
          <div class={`notice ${notice.kind}`} role="alert" data-testid="topup-message" data-kind={notice.kind}>
            {notice.text}
          </div>
        )}
        <div class="presets">
          {config.presets.map((p, i) => {
            const tons = tonsForStars(p.stars, config.tons_per_star, config.tons_decimals, config.tons_rounding);
            const key = p.id;
            const isBusy = busyKey === key;
            return (
              <button
                key={key}
                class={`preset preset-${i + 1}` + (isBusy ? ' busy' : '')}
                data-testid={`preset-${p.id}`}
                disabled={busy}
                onClick={() => void pay({ preset_id: p.id }, key)}
              >
                <span class={`medal medal-${i + 1} preset-medal`}>{i + 1}</span>
                <span class="preset-main">
                  <span class="preset-title">{presetLabel(p.id)}</span>
                  <span class="preset-gives">+{withUnit(tons)}</span>
                </span>
                <span class="price">
                  {isBusy ? <span class="spinner" /> : <StarIcon size={15} />}
                  {formatInt(p.stars, lang)}
                </span>
              </button>
            );
          })}
        </div>
        <form
          class="custom"
          onSubmit={(e) => {
            e.preventDefault();
            setTouched(true);
            if (v.stars) void pay({ stars_amount: v.stars }, 'custom');
          }}
        >
          <label class="custom-label" for="custom-stars">
            {t('customTitle')}
          </label>
          <div class={'field' + (touched && v.error ? ' invalid' : '')}>
            <StarIcon size={18} />
            <input
              id="custom-stars"
              data-testid="custom-input"
              type="text"
              inputMode="numeric"
              pattern="[0-9]*"
              autoComplete="off"
              placeholder={t('customPlaceholder')}
              value={custom}
              disabled={busy}
              aria-invalid={touched && !!v.error}
              aria-describedby="custom-help"
              onInput={(e) => {
                setCustom((e.currentTarget as HTMLInputElement).value.replace(/\s/g, ''));
                setTouched(true);
                dismissNotice();
              }}
            />
            {customTons && <span class="field-gives">{t('customGives', { tons: withUnit(customTons) })}</span>}
          </div>
          <div id="custom-help" class={'help' + (touched && v.error ? ' error' : '')} data-testid="custom-error">
            <StarText
              text={touched && v.error ? v.error : t('customHint', { min: formatInt(config.min_stars, lang), max: formatInt(config.max_stars, lang) })}
            />
          </div>
          <button
            class={'btn btn-accent wide' + (busyKey === 'custom' ? ' busy' : '')}
            type="submit"
            data-testid="custom-confirm"
            disabled={busy || !v.stars}
          >
            {busyKey === 'custom' ? <span class="spinner" /> : null}
            <StarText text={v.stars ? t('pay', { stars: formatInt(v.stars, lang) }) : t('payEmpty')} />
          </button>
        </form>
      </>
    );
  }

  return (
    <div class={'modal-root' + (leaving ? ' leaving' : '')}>
      <div class="scrim" onClick={close} />
      <section class="sheet" role="dialog" aria-modal="true" aria-labelledby="sheet-title" data-testid="topup-modal">
        <div class="grabber" aria-hidden="true" />
        <header class="sheet-head">
          <h2 id="sheet-title">{t('topupTitle')}</h2>
          <button class="icon-btn" data-testid="modal-close" aria-label={t('close')} onClick={close}>
            <CloseIcon />
          </button>
        </header>
        {body}
      </section>
    </div>
  );
}
