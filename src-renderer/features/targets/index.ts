/** The Targets screen. */
export { default as TargetDetail } from './TargetDetail.svelte';
export { default as TargetsPage } from './TargetsPage.svelte';
export { default as TargetTable } from './TargetTable.svelte';
