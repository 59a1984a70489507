/** Small building blocks shared by every feature screen. */
export { default as ConfirmButton } from './ConfirmButton.svelte';
export { default as ErrorText } from './ErrorText.svelte';
export { default as Pager } from './Pager.svelte';
export { default as ProgressBar } from './ProgressBar.svelte';
export { default as StatusBadge } from './StatusBadge.svelte';
export { default as TextField } from './TextField.svelte';
export { toneOf, type Tone } from './tone.js';
export { default as RecordTable } from './RecordTable.svelte';
export { default as ConfigFields } from './ConfigFields.svelte';
export { default as AddConfigForm, type AddConfigText } from './AddConfigForm.svelte';
export { default as ListTable, type ListColumn } from './ListTable.svelte';
