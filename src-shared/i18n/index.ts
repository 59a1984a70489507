/**
 * Message catalogs and a tiny `translate(locale, key, params)`. Catalogs are plain objects so
 * the engine, the CLI and the renderer share them; `{name}` placeholders are filled from params.
 */
import { enUS, type MessageKey } from './en-US.js';
import { zhCN } from './zh-CN.js';

export { enUS, zhCN, type MessageKey };

export const LOCALES = ['en-US', 'zh-CN'] as const;
export type Locale = (typeof LOCALES)[number];
export const DEFAULT_LOCALE: Locale = 'en-US';

export type MessageParams = Readonly<Record<string, string | number>>;

export const CATALOGS: Readonly<Record<Locale, Readonly<Record<MessageKey, string>>>> = {
  'en-US': enUS,
  'zh-CN': zhCN,
};

/** Whether `key` names a message (for keys built from wire values, like `host_status.<status>`). */
export function isMessageKey(key: string): key is MessageKey {
  return Object.prototype.hasOwnProperty.call(enUS, key);
}

/** The supported locale closest to a BCP 47 tag (`navigator.language`): any `zh*` → zh-CN. */
export function resolveLocale(tag: string | null | undefined): Locale {
  if (!tag) return DEFAULT_LOCALE;
  const exact = LOCALES.find((l) => l.toLowerCase() === tag.toLowerCase());
  if (exact) return exact;
  if (tag.toLowerCase().startsWith('zh')) return 'zh-CN';
  return DEFAULT_LOCALE;
}

/** The message for `key` in `locale` (falling back to en-US), with `{name}` placeholders filled. */
export function translate(locale: Locale, key: MessageKey, params?: MessageParams): string {
  const template = CATALOGS[locale]?.[key] ?? enUS[key] ?? key;
  if (!params) return template;
  return template.replace(/\{(\w+)\}/g, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** The `{name}` placeholders a message uses, sorted (catalog tests compare them across locales). */
export function placeholders(message: string): string[] {
  return [...new Set([...message.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!))].sort();
}
