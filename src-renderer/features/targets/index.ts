/** The Targets screen. */
export { default as AddLocalTargetForm } from './AddLocalTargetForm.svelte';
export { default as TargetsPage } from './TargetsPage.svelte';
export { default as TargetTable } from './TargetTable.svelte';
