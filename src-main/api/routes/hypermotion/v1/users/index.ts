/** Seed §4.1: POST /users/token, PUT /users. */
import { ErrorResponses } from '../../../../../../src-shared/api/common.js';
import { ChangePasswordBody, ChangePasswordReply, LoginBody, LoginReply } from '../../../../../../src-shared/api/users.js';
import { formatTimestamp } from '../../../../../../src-shared/units.js';
import type { App, RouteOptions } from '../../../../context.js';

export default async function usersRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  app.post(
    '/users/token',
    { schema: { tags: ['users'], summary: 'Get an access token (valid 24 h)', security: [], body: LoginBody, response: { 200: LoginReply, ...ErrorResponses } } },
    async (request) => {
      const result = await engine.auth.login(request.body.username, request.body.password);
      return { token: result.token, is_first_login: result.isFirstLogin, expires_at: formatTimestamp(result.expiresAt)! };
    },
  );

  app.put(
    '/users',
    { schema: { tags: ['users'], summary: 'Change the admin password', body: ChangePasswordBody, response: { 200: ChangePasswordReply, ...ErrorResponses } } },
    async (request) => {
      const { old_password, new_password, check_password } = request.body;
      await engine.auth.changePassword(request.user!.username, old_password, new_password, check_password);
      return { username: request.user!.username };
    },
  );
}
