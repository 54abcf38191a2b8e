// UI strings in Russian (default) and English, picked by the Telegram user's
// language_code.
import { tg } from './telegram';

export type Lang = 'ru' | 'en';

const ru = {
  tabAll: 'За всё время',
  tabWeek: 'За неделю',
  tabReferrals: 'Топ рефералов',
  topup: 'Пополнить',
  showMore: 'Показать ещё',
  loading: 'Загрузка…',
  you: 'Вы',
  youShort: 'Вы: #{rank}',
  notRanked: 'Вы пока не в рейтинге',
  notRankedHint: 'Пополните — и займёте место',
  notRankedReferrals: 'Пригласите друзей, чтобы попасть в топ',
  anonymous: 'Без имени',
  emptyTitle: 'Здесь пока пусто',
  emptyAll: 'Станьте первым в рейтинге!',
  emptyWeek: 'На этой неделе ещё никто не пополнял. Будьте первым!',
  emptyReferrals: 'Пока никто не привёл друзей. Начните первым!',
  errorTitle: 'Не удалось загрузить',
  errorNetwork: 'Нет связи с сервером. Проверьте интернет.',
  errorAuth: 'Сессия Telegram устарела. Закройте и откройте приложение снова.',
  errorGeneric: 'Что-то пошло не так. Попробуйте ещё раз.',
  errorBlocked: 'Этот аккаунт заблокирован.',
  retry: 'Повторить',
  week: 'Неделя',
  weekN: 'Неделя {n}',
  weekEndsIn: 'До конца недели',
  weekOver: 'Неделя закончилась — обновляем…',
  dd: 'д',
  hh: 'ч',
  mm: 'м',
  ss: 'с',
  inviteTitle: 'Приведи друга',
  inviteText: 'Зовите друзей по своей ссылке — их донаты поднимут вас в топе рефералов.',
  inviteButton: 'Приведи друга',
  inviteCta: 'Заходи в рейтинг донатов — поддержи и поднимись в топ!',
  yourReferrals: 'Ваши рефералы',
  theirTons: 'Их донаты',
  referrals: ['реферал', 'реферала', 'рефералов'],
  thisWeek: 'за неделю',
  tons: ['тон', 'тона', 'тонов'],
  tonsFraction: 'тона',
  // top-up
  topupTitle: 'Пополнить',
  rate: '1 ⭐ = {tons}',
  rateAgeNow: 'курс обновлён только что',
  rateAgeMin: 'курс обновлён {n} мин назад',
  rateAgeHours: 'курс обновлён {n} ч назад',
  rateAgeDays: 'курс обновлён {n} дн. назад',
  place1: '1 место',
  place2: '2 место',
  place3: '3 место',
  customTitle: 'Своя сумма',
  customPlaceholder: 'Количество Stars',
  customHint: 'От {min} до {max} ⭐',
  customGives: '≈ {tons}',
  customTooSmall: 'Минимум {min} ⭐',
  customTooBig: 'Максимум {max} ⭐',
  customNotInt: 'Введите целое число Stars',
  pay: 'Оплатить {stars} ⭐',
  payEmpty: 'Оплатить',
  creating: 'Создаём счёт…',
  awaiting: 'Завершите оплату в окне Telegram',
  thanksTitle: 'Спасибо!',
  thanksText: 'Оплата прошла. Начисляем {tons}…',
  thanksCredited: 'Зачислено {tons}.',
  thanksPlace: 'Ваше место: #{rank}',
  thanksSlow: 'Оплата получена. Зачисление может занять минуту — рейтинг обновится сам.',
  done: 'Готово',
  cancelled: 'Оплата отменена. Ничего не списано и не начислено.',
  failed: 'Оплата не прошла. Ничего не начислено — попробуйте ещё раз.',
  pending: 'Платёж обрабатывается. Тоны появятся после подтверждения.',
  tooMany: 'Слишком много попыток. Подождите {sec} с и попробуйте снова.',
  tooManyNoTime: 'Слишком много попыток. Подождите немного и попробуйте снова.',
  invoiceError: 'Не удалось открыть оплату. Попробуйте ещё раз.',
  topupBlocked: 'Этот аккаунт заблокирован: пополнения недоступны.',
  amountChanged: 'Условия пополнения изменились. Проверьте сумму и попробуйте снова.',
  amountTooLarge: 'Слишком большая сумма для одного платежа. Выберите меньше Stars.',
  telegramUnavailable: 'Telegram не ответил. Попробуйте через минуту.',
  back: 'Назад',
  close: 'Закрыть',
  // outside Telegram
  outsideTitle: 'Откройте в Telegram',
  outsideText: 'Это мини-приложение работает только внутри Telegram: там оно узнаёт вас и принимает оплату в Stars.',
  outsideBot: 'Открыть @{bot}',
};

type Dict = typeof ru;

const en: Dict = {
  tabAll: 'All time',
  tabWeek: 'This week',
  tabReferrals: 'Top referrers',
  topup: 'Top up',
  showMore: 'Show more',
  loading: 'Loading…',
  you: 'You',
  youShort: 'You: #{rank}',
  notRanked: 'You are not ranked yet',
  notRankedHint: 'Top up to take a place',
  notRankedReferrals: 'Invite friends to get on this board',
  anonymous: 'No name',
  emptyTitle: 'Nothing here yet',
  emptyAll: 'Be the first on the board!',
  emptyWeek: 'Nobody has donated this week yet. Be the first!',
  emptyReferrals: 'Nobody has brought friends yet. Start now!',
  errorTitle: 'Could not load',
  errorNetwork: 'Cannot reach the server. Check your connection.',
  errorAuth: 'Your Telegram session expired. Close and reopen the app.',
  errorGeneric: 'Something went wrong. Please try again.',
  errorBlocked: 'This account is blocked.',
  retry: 'Retry',
  week: 'Week',
  weekN: 'Week {n}',
  weekEndsIn: 'Week ends in',
  weekOver: 'The week is over — refreshing…',
  dd: 'd',
  hh: 'h',
  mm: 'm',
  ss: 's',
  inviteTitle: 'Bring a friend',
  inviteText: 'Invite friends with your link — their donations lift you up the referrers board.',
  inviteButton: 'Bring a friend',
  inviteCta: 'Join the donation leaderboard — support and climb to the top!',
  yourReferrals: 'Your referrals',
  theirTons: 'Their donations',
  referrals: ['referral', 'referrals', 'referrals'],
  thisWeek: 'this week',
  tons: ['ton', 'tons', 'tons'],
  tonsFraction: 'tons',
  topupTitle: 'Top up',
  rate: '1 ⭐ = {tons}',
  rateAgeNow: 'rate updated just now',
  rateAgeMin: 'rate updated {n} min ago',
  rateAgeHours: 'rate updated {n} h ago',
  rateAgeDays: 'rate updated {n} d ago',
  place1: '1st place',
  place2: '2nd place',
  place3: '3rd place',
  customTitle: 'Custom amount',
  customPlaceholder: 'Number of Stars',
  customHint: 'From {min} to {max} ⭐',
  customGives: '≈ {tons}',
  customTooSmall: 'Minimum is {min} ⭐',
  customTooBig: 'Maximum is {max} ⭐',
  customNotInt: 'Enter a whole number of Stars',
  pay: 'Pay {stars} ⭐',
  payEmpty: 'Pay',
  creating: 'Creating the invoice…',
  awaiting: 'Finish the payment in the Telegram window',
  thanksTitle: 'Thank you!',
  thanksText: 'Payment received. Crediting {tons}…',
  thanksCredited: '{tons} credited.',
  thanksPlace: 'Your place: #{rank}',
  thanksSlow: 'Payment received. Crediting can take a minute — the boards will update by themselves.',
  done: 'Done',
  cancelled: 'Payment cancelled. Nothing was charged or credited.',
  failed: 'Payment failed. Nothing was credited — please try again.',
  pending: 'Payment is being processed. Tons appear once it is confirmed.',
  tooMany: 'Too many attempts. Wait {sec} s and try again.',
  tooManyNoTime: 'Too many attempts. Wait a little and try again.',
  invoiceError: 'Could not open the payment. Please try again.',
  topupBlocked: 'This account is blocked: top-ups are not available.',
  amountChanged: 'The top-up options have changed. Check the amount and try again.',
  amountTooLarge: 'This amount is too large for one payment. Choose fewer Stars.',
  telegramUnavailable: 'Telegram did not respond. Try again in a minute.',
  back: 'Back',
  close: 'Close',
  outsideTitle: 'Open in Telegram',
  outsideText: 'This mini app works only inside Telegram: there it knows who you are and takes payment in Stars.',
  outsideBot: 'Open @{bot}',
};

export type Key = { [K in keyof Dict]: Dict[K] extends string ? K : never }[keyof Dict];
type PluralKey = { [K in keyof Dict]: Dict[K] extends string[] ? K : never }[keyof Dict];

export const lang: Lang = /^en\b/i.test(tg.user?.language_code ?? '') ? 'en' : 'ru';
const dict: Dict = lang === 'en' ? en : ru;
document.documentElement.lang = lang;

/** Translated string with {placeholders} filled in. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  return (dict[key] as string).replace(/\{(\w+)\}/g, (_, k) => (k in vars ? String(vars[k]) : `{${k}}`));
}

// The server's package ids (api.ts `Preset`) are named by the place they aim at.
const PRESET_KEYS = new Map<string, Key>([
  ['place1', 'place1'],
  ['place2', 'place2'],
  ['place3', 'place3'],
]);

/** A package's title ("1 место" for place1); an id the app does not know is shown as is. */
export function presetLabel(id: string): string {
  const key = PRESET_KEYS.get(id);
  return key ? t(key) : id;
}

/** "курс обновлён 3 мин назад": the age of a fetched rate, in whole minutes, hours or days. */
export function rateAge(seconds: number): string {
  const minutes = Math.floor(Math.max(0, seconds) / 60);
  if (minutes < 1) return t('rateAgeNow');
  if (minutes < 60) return t('rateAgeMin', { n: minutes });
  if (minutes < 24 * 60) return t('rateAgeHours', { n: Math.floor(minutes / 60) });
  return t('rateAgeDays', { n: Math.floor(minutes / (24 * 60)) });
}

/** Plural form for a whole number (Russian one/few/many rules; English one/other). */
export function plural(key: PluralKey, n: number): string {
  const [one, few, many] = dict[key] as string[];
  const a = Math.abs(Math.trunc(n));
  if (lang === 'en') return a === 1 ? one : few;
  const d10 = a % 10;
  const d100 = a % 100;
  if (d10 === 1 && d100 !== 11) return one;
  if (d10 >= 2 && d10 <= 4 && (d100 < 12 || d100 > 14)) return few;
  return many;
}

/** Unit word for a tons amount given as a decimal string: a number with a fractional
 * part, even ",00", takes the genitive singular in Russian ("561,00 тона"). */
export function tonsUnit(value: string): string {
  const m = /^-?(\d+)(?:\.(\d+))?$/.exec(value);
  if (!m) return plural('tons', 0);
  if (m[2] !== undefined) return dict.tonsFraction;
  return plural('tons', Number(m[1].slice(-3)));
}
