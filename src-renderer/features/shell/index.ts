/** The signed-in frame and the controls it shares with the sign-in screens. */
export { default as LiveStatus } from './LiveStatus.svelte';
export { default as Preferences } from './Preferences.svelte';
export { default as Shell } from './Shell.svelte';
