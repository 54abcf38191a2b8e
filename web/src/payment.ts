// One top-up from start to finish: create the invoice, open it in Telegram, wait
// for the bot to credit it, refresh the boards. The sheet (TopUpModal) only shows
// the phase and the notice this hook keeps.
import { useCallback, useRef, useState } from 'preact/hooks';
import { api, type Me, type Tons } from './api';
import { ApiError, errorText, isAmountError } from './errors';
import { t } from './i18n';
import { tg, type InvoiceStatus } from './telegram';

/** What the sheet shows; `key` is the button that started the payment (a preset id or 'custom'). */
export type Phase =
  | { kind: 'choose' }
  | { kind: 'creating'; key: string }
  | { kind: 'awaiting'; key: string }
  | { kind: 'thanks'; tons: Tons; result: 'polling' | 'credited' | 'slow'; rank: number | null };

/** Why the sheet is back at 'choose' (shown above the packages). */
export type Notice = { kind: 'cancelled' | 'failed' | 'pending' | 'error'; text: string } | null;

export type InvoiceRequest = { preset_id: string } | { stars_amount: number };

interface Deps {
  /** Polls until the payment shows in /api/me (useMe().waitForCredit). */
  waitForCredit: () => Promise<Me | null>;
  /** Reloads /api/config in the background (useConfig().reload). */
  refreshConfig: () => void;
  /** Reloads every board silently (useBoards().refreshAll). */
  refreshBoards: () => void;
}

const CHOOSE: Phase = { kind: 'choose' };
const isBusy = (p: Phase) => p.kind === 'creating' || p.kind === 'awaiting';

export function usePayment({ waitForCredit, refreshConfig, refreshBoards }: Deps) {
  const [phase, setPhase] = useState<Phase>(CHOOSE);
  const [notice, setNotice] = useState<Notice>(null);
  // The sheet's session: closing the sheet starts a new one. A payment still on
  // its way (polling for the credit) then finishes without changing what is shown.
  const session = useRef(0);
  // The phase shown, readable at once (a second tap before the re-render is ignored).
  const shown = useRef<Phase>(CHOOSE);

  /** Telegram says paid (or pending): wait for the credit, then refresh the boards. */
  const settle = useCallback(async () => {
    const fresh = await waitForCredit();
    refreshBoards();
    return fresh;
  }, [waitForCredit, refreshBoards]);

  const pay = useCallback(
    async (body: InvoiceRequest, key: string) => {
      if (isBusy(shown.current)) return;
      const s = session.current;
      const show = (p: Phase) => {
        if (s !== session.current) return;
        shown.current = p;
        setPhase(p);
      };
      const backToChoose = (n: Notice) => {
        if (s !== session.current) return;
        setNotice(n);
        show(CHOOSE);
      };

      tg.haptic.impact('medium');
      setNotice(null);
      show({ kind: 'creating', key });
      let link: string;
      let tons: Tons;
      try {
        const inv = await api.createInvoice(body);
        link = inv.invoice_link;
        tons = inv.tons_amount;
      } catch (e) {
        const err = e instanceof ApiError ? e : null;
        tg.haptic.notify('error');
        if (isAmountError(err)) refreshConfig(); // presets or limits changed since the page loaded
        backToChoose({ kind: 'error', text: errorText(err, 'topup') });
        return;
      }
      show({ kind: 'awaiting', key });
      let status: InvoiceStatus;
      try {
        status = await tg.openInvoice(link);
      } catch {
        tg.haptic.notify('error');
        backToChoose({ kind: 'error', text: t('invoiceError') });
        return;
      }
      if (status === 'paid') {
        tg.haptic.notify('success');
        show({ kind: 'thanks', tons, result: 'polling', rank: null });
        const fresh = await settle();
        show({ kind: 'thanks', tons, result: fresh ? 'credited' : 'slow', rank: fresh?.rank_all_time ?? null });
        return;
      }
      if (status === 'pending') {
        // Telegram is still confirming; the server credits it when the bot gets it.
        void settle();
        backToChoose({ kind: 'pending', text: t('pending') });
        return;
      }
      tg.haptic.notify(status === 'cancelled' ? 'warning' : 'error');
      backToChoose(status === 'cancelled' ? { kind: 'cancelled', text: t('cancelled') } : { kind: 'failed', text: t('failed') });
    },
    [settle, refreshConfig],
  );

  /** The user edits the amount: the last outcome no longer applies. */
  const dismissNotice = useCallback(() => setNotice(null), []);

  /** The sheet closed: the next one starts fresh. */
  const end = useCallback(() => {
    session.current++;
    shown.current = CHOOSE;
    setPhase(CHOOSE);
    setNotice(null);
  }, []);

  return { phase, notice, busy: isBusy(phase), pay, dismissNotice, end };
}

export type Payment = ReturnType<typeof usePayment>;
