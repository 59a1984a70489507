/**
 * Component tests: the components rendered on the server (`svelte/server`) with props, checking
 * what the user would read. The vitest environment is Node, so this covers markup and strings,
 * not clicks (the Playwright e2e test drives those).
 */
import { render } from 'svelte/server';
import { describe, expect, it } from 'vitest';
import { i18n } from '../lib/state/locale.svelte.js';
import { RecordTable } from '../lib/ui/index.js';
import BootConsole from './hosts/BootConsole.svelte';
import HostProgress from './hosts/HostProgress.svelte';
import ThroughputChart from './hosts/ThroughputChart.svelte';
import CheckList from './wizard/CheckList.svelte';

const detail = { percent: 42, remaining_time: '1Minute(s)', speed: '80Mbps', sync_detail: '', sync_total: '1GB', synced: '420MB' };

describe('components', () => {
  it('HostProgress shows percent, speed, time left and synced of total, or that the sync stalls', () => {
    i18n.set('en-US');
    const live = render(HostProgress, { props: { hostName: 'web', detail, syncing: true } }).body;
    expect(live).toContain('aria-valuenow="42"');
    expect(live).toContain('80Mbps');
    expect(live).toContain('1Minute(s) left');
    expect(live).toContain('420MB of 1GB');
    const stalled = render(HostProgress, { props: { hostName: 'web', detail, syncing: true, stalled: true } }).body;
    expect(stalled).toContain('Stalled: no progress for over 10 s');
    expect(stalled).not.toContain('80Mbps');
  });

  it('CheckList explains WARN and ERROR checks in the chosen language', () => {
    const checks = [
      { id: 'a', ok: true, severity: 'OK' as const, code: 'ok', reason: 'fine' },
      { id: 'b', ok: false, severity: 'ERROR' as const, code: 'no_disk', reason: 'no disk found' },
    ];
    i18n.set('en-US');
    const en = render(CheckList, { props: { checks } }).body;
    expect(en).toContain('no disk found');
    expect(en).toContain('Migration will fail: fix this on the source first.');
    expect(en).not.toContain('fine');
    i18n.set('zh-CN');
    expect(render(CheckList, { props: { checks } }).body).toContain('迁移会失败');
    i18n.set('en-US');
  });

  it('BootConsole renders only when the engine has a console', () => {
    expect(render(BootConsole, { props: { text: null } }).body).not.toContain('boot-console');
    expect(render(BootConsole, { props: { text: 'MIGRATION-BOOT-OK' } }).body).toContain('MIGRATION-BOOT-OK');
  });

  it('ThroughputChart draws the current sync and lists past ones', () => {
    const runs = [
      [
        { at: 0, bytesPerSecond: 0, doneBytes: 0, totalBytes: 10 },
        { at: 1000, bytesPerSecond: 10_000_000, doneBytes: 5, totalBytes: 10 },
      ],
    ];
    const past = [{ id: 'j1', startAt: Date.parse('2026-01-01T00:00:00Z'), seconds: 90, status: 'done', failure: null }];
    const body = render(ThroughputChart, { props: { runs, past } }).body;
    expect(body).toContain('<polyline');
    expect(body).toContain('90 s');
    expect(render(ThroughputChart, { props: { runs: [], past: [] } }).body).toContain('No sync running in this session.');
  });

  it('RecordTable shows the union of fields, preferred ones first', () => {
    i18n.set('en-US');
    const body = render(RecordTable, { props: { rows: [{ status: 'ok', name: 'v1' }, { size: '1GB', odd_field: 1 }], caption: 'volumes', first: ['name'] } }).body;
    expect(body).toContain('>odd_field<');
    // Wire names are labelled from the catalogs; unknown ones stay as they are.
    expect(body.indexOf('>Name<')).toBeLessThan(body.indexOf('>Status<'));
    expect(body).toContain('>Size<');
    expect(body).toContain('1GB');
  });
});
