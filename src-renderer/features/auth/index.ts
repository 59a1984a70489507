/** Sign-in and the forced password change of the first login. */
export { default as ChangePassword } from './ChangePassword.svelte';
export { default as SignIn } from './SignIn.svelte';
