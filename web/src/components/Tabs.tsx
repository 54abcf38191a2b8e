import type { TabId } from '../boards';
import { TABS } from '../boards';
import { t } from '../i18n';

const LABEL = { all: 'tabAll', week: 'tabWeek', referrals: 'tabReferrals' } as const;

export function Tabs({ active, onChange }: { active: TabId; onChange: (tab: TabId) => void }) {
  const index = TABS.indexOf(active);
  return (
    <nav class="tabs" role="tablist">
      <span class="tabs-pill" style={{ transform: `translateX(${index * 100}%)` }} aria-hidden="true" />
      {TABS.map((id) => (
        <button
          key={id}
          role="tab"
          id={`tab-${id}`}
          aria-selected={id === active}
          aria-controls="panel"
          class={'tab' + (id === active ? ' active' : '')}
          data-testid={`tab-${id}`}
          onClick={() => onChange(id)}
        >
          {t(LABEL[id])}
        </button>
      ))}
    </nav>
  );
}
