/**
 * The UI language: from `navigator.language` unless the user picked one (kept in localStorage).
 * Every string on screen goes through `i18n.t`; reading `current` makes it reactive.
 */
import { LOCALES, isMessageKey, resolveLocale, translate, type Locale, type MessageKey, type MessageParams } from '../../../src-shared/i18n/index.js';
import { readStored, writeStored } from './storage.js';

const STORAGE_KEY = 'rehost.locale';

function initialLocale(): Locale {
  const stored = readStored('local', STORAGE_KEY);
  if (stored && (LOCALES as readonly string[]).includes(stored)) return stored as Locale;
  return resolveLocale(typeof navigator === 'undefined' ? null : navigator.language);
}

class LocaleState {
  current = $state<Locale>(initialLocale());
  readonly locales = LOCALES;

  /** The message for `key` in the current language. */
  t = (key: MessageKey, params?: MessageParams): string => translate(this.current, key, params);

  /** The label of a wire value (`label('host_status', 'sync_doing')`), or the value itself. */
  label = (group: string, value: string): string => {
    const key = `${group}.${value}`;
    return isMessageKey(key) ? translate(this.current, key) : value;
  };

  readonly #dates = $derived(
    new Intl.DateTimeFormat(this.current, { year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23' }),
  );

  /** An ISO timestamp in local time and the current language's order, or "—". */
  date = (iso: string | null | undefined): string => {
    if (!iso) return translate(this.current, 'common.none');
    const d = new Date(iso);
    return Number.isNaN(d.getTime()) ? iso : this.#dates.format(d);
  };

  set(locale: Locale): void {
    this.current = locale;
    writeStored('local', STORAGE_KEY, locale);
    this.apply();
  }

  /** Mirrors the language on `<html lang>` (screen readers, fonts, hyphenation). */
  apply(): void {
    if (typeof document !== 'undefined') document.documentElement.lang = this.current;
  }
}

export const i18n = new LocaleState();
