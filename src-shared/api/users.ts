/** Seed 000 §4.1: token and password change. */
import { Type, type Static } from '@sinclair/typebox';

export const LoginBody = Type.Object(
  {
    username: Type.String({ minLength: 1, maxLength: 128, examples: ['admin'] }),
    password: Type.String({ minLength: 1, maxLength: 1024, examples: ['admin_pass'] }),
  },
  { additionalProperties: false },
);
export type LoginBody = Static<typeof LoginBody>;

export const LoginReply = Type.Object({
  token: Type.String({ description: 'Send as X-AUTH-TOKEN; valid 24 hours' }),
  is_first_login: Type.Boolean({ description: 'The password must be changed (PUT /users) before anything else (seed 001 IsFirstLogin)' }),
  expires_at: Type.String({ format: 'date-time' }),
});

export const ChangePasswordBody = Type.Object(
  {
    old_password: Type.String({ minLength: 1, maxLength: 1024 }),
    new_password: Type.String({ minLength: 1, maxLength: 1024 }),
    check_password: Type.String({ minLength: 1, maxLength: 1024 }),
  },
  { additionalProperties: false },
);
export type ChangePasswordBody = Static<typeof ChangePasswordBody>;

export const ChangePasswordReply = Type.Object({ username: Type.String() });
