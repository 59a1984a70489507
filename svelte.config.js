// Svelte compiler options, shared by Vite, svelte-check and eslint-plugin-svelte.
// TypeScript in components is type-only syntax, which Svelte 5 strips natively: no preprocessor.
/** @type {import('@sveltejs/vite-plugin-svelte').SvelteConfig} */
export default {
  compilerOptions: {
    runes: true,
  },
};
