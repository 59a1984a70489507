/** The Jobs screen: jobs with their steps and failure reasons. */
export { default as JobsPage } from './JobsPage.svelte';
export { default as JobSteps } from './JobSteps.svelte';
export { default as JobTable } from './JobTable.svelte';
