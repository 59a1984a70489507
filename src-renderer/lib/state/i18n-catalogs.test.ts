import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../../src-shared/errors.js';
import { CATALOGS, LOCALES, enUS, isMessageKey, placeholders, resolveLocale, translate, zhCN } from '../../../src-shared/i18n/index.js';
import {
  BOOT_STATUSES,
  CLOUD_TYPES,
  HEALTH_STATUSES,
  HOST_STATUSES,
  JOB_STATUSES,
  JOB_TYPES,
  SOURCE_STATUSES,
  SOURCE_TYPES,
  STEP_STATUSES,
  TARGET_STATUSES,
} from '../../../src-shared/states.js';

describe('i18n catalogs', () => {
  const reference = Object.keys(enUS).sort();

  it('zh-CN has exactly the en-US keys', () => {
    expect(Object.keys(zhCN).sort()).toEqual(reference);
  });

  it.each(LOCALES)('%s has a non-empty message with the same placeholders for every key', (locale) => {
    const catalog = CATALOGS[locale];
    for (const key of reference) {
      const message = catalog[key as keyof typeof enUS];
      expect(message, key).toBeTypeOf('string');
      expect(message.trim(), key).not.toBe('');
      expect(placeholders(message), key).toEqual(placeholders(enUS[key as keyof typeof enUS]));
    }
  });

  it('has a message for every error code of src-shared/errors.ts, and for unreachable engines', () => {
    for (const [code, { key }] of Object.entries(ERROR_CODES)) {
      expect(isMessageKey(key), `${code} → ${key}`).toBe(true);
    }
    expect(isMessageKey('error.network')).toBe(true);
  });

  it('labels every wire value the screens show', () => {
    const groups: Record<string, readonly string[]> = {
      host_status: HOST_STATUSES,
      boot_status: BOOT_STATUSES,
      health_status: HEALTH_STATUSES,
      target_status: TARGET_STATUSES,
      source_status: SOURCE_STATUSES,
      source_type: SOURCE_TYPES,
      cloud_type: CLOUD_TYPES,
      job_status: JOB_STATUSES,
      step_status: STEP_STATUSES,
      job_type: JOB_TYPES,
    };
    for (const [group, values] of Object.entries(groups)) {
      for (const value of values) expect(isMessageKey(`${group}.${value}`), `${group}.${value}`).toBe(true);
    }
  });
});

describe('translate', () => {
  it('fills placeholders and leaves unknown ones visible', () => {
    expect(translate('en-US', 'common.page', { page: 2, pages: 5 })).toBe('Page 2 of 5');
    expect(translate('zh-CN', 'common.page', { page: 2, pages: 5 })).toBe('第 2 页，共 5 页');
    expect(translate('en-US', 'common.page', { page: 2 })).toBe('Page 2 of {pages}');
  });

  it('resolves navigator languages to a supported locale', () => {
    expect(resolveLocale('zh-CN')).toBe('zh-CN');
    expect(resolveLocale('zh-TW')).toBe('zh-CN');
    expect(resolveLocale('zh')).toBe('zh-CN');
    expect(resolveLocale('en-GB')).toBe('en-US');
    expect(resolveLocale('fr-FR')).toBe('en-US');
    expect(resolveLocale(undefined)).toBe('en-US');
  });
});
