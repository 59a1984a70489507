/** The Sources screen. */
export { default as SourceDetail } from './SourceDetail.svelte';
export { default as SourcesPage } from './SourcesPage.svelte';
export { default as SourceTable } from './SourceTable.svelte';
