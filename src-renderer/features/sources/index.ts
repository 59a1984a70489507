/** The Sources screen. */
export { default as AddImageSourceForm } from './AddImageSourceForm.svelte';
export { default as SourcesPage } from './SourcesPage.svelte';
export { default as SourceTable } from './SourceTable.svelte';
