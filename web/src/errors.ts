// API errors: the error type, the codes the UI tells apart, and what the user is
// told. The server answers every error as {"error": {"code", "message"}}; the
// `message` is English prose for developers and is never shown: the UI words the
// status and the code itself.
import { t } from './i18n';

/** A failed API request: HTTP status (0: no answer) and the error code. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    /** Seconds from Retry-After (429), if the server sent it. */
    readonly retryAfter: number | null = null,
  ) {
    super(message);
  }
}

/** The codes the UI tells apart (the server's, and the few the client makes up). */
export const ErrorCode = {
  // server
  userBlocked: 'user_blocked',
  rateLimited: 'rate_limited',
  telegramUnavailable: 'telegram_unavailable',
  botStarting: 'bot_starting',
  botUnavailable: 'bot_unavailable',
  amountOutOfRange: 'amount_out_of_range',
  amountTooLarge: 'amount_too_large',
  invalidAmount: 'invalid_amount',
  missingAmount: 'missing_amount',
  invalidPreset: 'invalid_preset',
  presetMismatch: 'preset_mismatch',
  // client-made: no answer at all (status 0), an answer that is not JSON, a thrown
  // non-ApiError. (An error answer without a code gets `http_<status>`.)
  network: 'network',
  badResponse: 'bad_response',
  client: 'client',
} as const;

// bot_starting / bot_unavailable: the server's bot is not up (yet), a 503 like Telegram being down.
const TELEGRAM_DOWN: ReadonlySet<string> = new Set([
  ErrorCode.telegramUnavailable,
  ErrorCode.botStarting,
  ErrorCode.botUnavailable,
]);
// The server refused the amount: the packages or limits changed since the page loaded them.
const AMOUNT_REFUSED: ReadonlySet<string> = new Set([
  ErrorCode.amountOutOfRange,
  ErrorCode.invalidAmount,
  ErrorCode.missingAmount,
  ErrorCode.invalidPreset,
  ErrorCode.presetMismatch,
]);

/** Anything a request threw, as an ApiError (status 0 when it is not one). */
export const toApiError = (e: unknown): ApiError =>
  e instanceof ApiError ? e : new ApiError(0, ErrorCode.client, String(e));

/** What to tell the user about a failed request; `topup` for create-invoice. */
export function errorText(e: ApiError | null, context: 'board' | 'topup' = 'board'): string {
  if (!e) return t('errorGeneric');
  if (e.status === 0) return t('errorNetwork');
  if (e.code === ErrorCode.userBlocked) return t(context === 'topup' ? 'topupBlocked' : 'errorBlocked');
  if (e.status === 401 || e.status === 403) return t('errorAuth');
  if (e.status === 429) return e.retryAfter ? t('tooMany', { sec: e.retryAfter }) : t('tooManyNoTime');
  if (TELEGRAM_DOWN.has(e.code)) return t('telegramUnavailable');
  // More tons at the current rate than one payment may credit: fewer Stars will do.
  if (e.code === ErrorCode.amountTooLarge) return t('amountTooLarge');
  if (AMOUNT_REFUSED.has(e.code)) return t('amountChanged');
  return t('errorGeneric');
}

/** The top-up limits the page knows may be stale (the server refused the amount). */
export const isAmountError = (e: ApiError | null): boolean => !!e && AMOUNT_REFUSED.has(e.code);
