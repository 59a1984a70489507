/**
 * Light or dark: `system` follows `prefers-color-scheme`; an explicit choice is kept in
 * localStorage and set as `<html data-theme>` (the CSS variables in app.css switch on it).
 */
import { readStored, writeStored } from './storage.js';

export const THEME_MODES = ['system', 'light', 'dark'] as const;
export type ThemeMode = (typeof THEME_MODES)[number];

const STORAGE_KEY = 'rehost.theme';

function initialMode(): ThemeMode {
  const stored = readStored('local', STORAGE_KEY);
  return (THEME_MODES as readonly string[]).includes(stored ?? '') ? (stored as ThemeMode) : 'system';
}

class ThemeState {
  mode = $state<ThemeMode>(initialMode());

  /** system → light → dark → system. */
  cycle(): void {
    const next = THEME_MODES[(THEME_MODES.indexOf(this.mode) + 1) % THEME_MODES.length]!;
    this.mode = next;
    writeStored('local', STORAGE_KEY, next === 'system' ? null : next);
    this.apply();
  }

  apply(): void {
    if (typeof document === 'undefined') return;
    if (this.mode === 'system') delete document.documentElement.dataset.theme;
    else document.documentElement.dataset.theme = this.mode;
  }
}

export const theme = new ThemeState();
