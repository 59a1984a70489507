/** The migration wizard's step panels (seed 000 steps 1, 2 and 4). */
export { default as AssignPanel } from './AssignPanel.svelte';
export { default as BootPanel } from './BootPanel.svelte';
export { default as CheckList } from './CheckList.svelte';
export { default as SourceHostPicker } from './SourceHostPicker.svelte';
export { default as StrategyForm } from './StrategyForm.svelte';
export { default as SyncPanel } from './SyncPanel.svelte';
