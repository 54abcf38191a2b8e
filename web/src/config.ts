// The top-up options (/api/config): packages, limits, rate and rounding.
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';
import { api, type Config } from './api';
import { toApiError, type ApiError } from './errors';

export function useConfig() {
  const [config, setConfig] = useState<Config | null>(null);
  const [error, setError] = useState<ApiError | null>(null);
  // A newer request makes older in-flight answers obsolete.
  const gen = useRef(0);

  /**
   * Fetches /api/config again: the retry after a failure, and the background
   * refresh after the server refused an amount. What is shown stays until the
   * answer arrives; an error only matters while there is no config to show.
   */
  const reload = useCallback(() => {
    const g = ++gen.current;
    setError(null);
    api.config().then(
      (c) => {
        if (g === gen.current) setConfig(c);
      },
      (e: unknown) => {
        if (g === gen.current) setError(toApiError(e));
      },
    );
  }, []);

  useEffect(() => {
    reload();
  }, [reload]);

  return { config, error, reload };
}
