/** The Hosts screen: hosts per migration step with progress and actions. */
export { default as HostActions } from './HostActions.svelte';
export { default as HostProgress } from './HostProgress.svelte';
export { default as HostsPage } from './HostsPage.svelte';
export { default as HostTable } from './HostTable.svelte';
export { default as StepTabs } from './StepTabs.svelte';
