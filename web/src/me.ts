// The viewer's own record (/api/me): loaded once, reloaded silently, and polled
// after a payment until the bot has credited it.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Me } from './api';
import { decGreater } from './format';

const POLL_EVERY_MS = 1500;
const POLL_FOR_MS = 30_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function useMe() {
  const [me, setMe] = useState<Me | null>(null);
  const [loading, setLoading] = useState(true);
  // Requests can overtake each other (a tab switch while polling): an answer is
  // shown only if no later-started request has been shown already.
  const started = useRef(0);
  const shown = useRef(0);
  const latest = useRef<Me | null>(null);

  /** Fetches /api/me; resolves with the answer, or null when the request failed. */
  const reload = useCallback(async (): Promise<Me | null> => {
    const n = ++started.current;
    try {
      const m = await api.me();
      if (n > shown.current) {
        shown.current = n;
        latest.current = m;
        setMe(m);
      }
      return m;
    } catch {
      return null; // keep what is shown
    } finally {
      setLoading(false);
    }
  }, []);

  useEffect(() => {
    void reload();
  }, [reload]);

  /**
   * After a payment: polls /api/me until tons_total grows past what was known
   * when called (the bot credits the payment). Resolves with the credited /me,
   * or null if it did not show within POLL_FOR_MS.
   */
  const waitForCredit = useCallback(async (): Promise<Me | null> => {
    const before = latest.current?.tons_total ?? null;
    const until = Date.now() + POLL_FOR_MS;
    while (Date.now() < until) {
      await sleep(POLL_EVERY_MS);
      const m = await reload(); // null: keep polling
      if (m && (before == null || decGreater(m.tons_total, before))) return m;
    }
    return null;
  }, [reload]);

  return { me, loading, reload, waitForCredit };
}
