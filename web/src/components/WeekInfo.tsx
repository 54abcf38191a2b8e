import { useEffect, useRef, useState } from 'preact/hooks';
import type { WeekInfo as Week } from '../boards';
import { formatWeekRange, remaining } from '../format';
import { lang, t } from '../i18n';
import { ClockIcon } from './icons';

const pad = (n: number) => String(n).padStart(2, '0');

export function WeekInfo({ week, onWeekOver }: { week: Week | null; onWeekOver: () => void }) {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(id);
  }, []);
  const left = week ? remaining(week.end, now) : null;
  const weekNo = week ? /W(\d+)$/.exec(week.key)?.[1]?.replace(/^0/, '') : undefined;
  // Once per week that ends (not again on every re-render with a new callback):
  // the timer calls whatever onWeekOver is current when it fires.
  const weekOver = useRef(onWeekOver);
  weekOver.current = onWeekOver;
  useEffect(() => {
    if (left?.done) {
      const id = setTimeout(() => weekOver.current(), 1500);
      return () => clearTimeout(id);
    }
    return undefined;
  }, [left?.done, week?.key]);

  return (
    <div class="card week" data-testid="week-info" data-week-key={week?.key ?? ''}>
      <div class="week-head">
        <span class="week-label">{weekNo ? t('weekN', { n: weekNo }) : t('week')}</span>
        <span class="week-range">{week ? formatWeekRange(week.start, week.end, lang) : <span class="sk sk-line" style={{ width: '120px' }} />}</span>
      </div>
      <div class="week-count" data-testid="week-countdown">
        <span class="week-count-label">
          <ClockIcon />
          {left?.done ? t('weekOver') : t('weekEndsIn')}
        </span>
        {left && !left.done ? (
          <span class="chips">
            {left.days > 0 && (
              <span class="chip">
                {left.days}
                <small>{t('dd')}</small>
              </span>
            )}
            <span class="chip">
              {pad(left.hours)}
              <small>{t('hh')}</small>
            </span>
            <span class="chip">
              {pad(left.minutes)}
              <small>{t('mm')}</small>
            </span>
            <span class="chip">
              {pad(left.seconds)}
              <small>{t('ss')}</small>
            </span>
          </span>
        ) : !left ? (
          <span class="sk sk-line" style={{ width: '168px', height: '30px' }} />
        ) : null}
      </div>
    </div>
  );
}
