/** Licenses (seed 000 §3.1, seed 001): the placeholder evaluation license and its credits. */
import { Type } from '@sinclair/typebox';
import { ErrorResponses } from '../../../../../../src-shared/api/common.js';
import { formatTimestamp } from '../../../../../../src-shared/units.js';
import type { App, RouteOptions } from '../../../../context.js';

const LicenseListReply = Type.Object({
  licenses: Type.Object({
    data: Type.Array(
      Type.Object({ id: Type.String(), name: Type.String(), total: Type.Integer(), used: Type.Integer(), expires_at: Type.Union([Type.String(), Type.Null()]), valid: Type.Boolean() }),
    ),
  }),
});

export default async function licenseRoutes(app: App, { engine }: RouteOptions): Promise<void> {
  app.get('/licenses', { schema: { tags: ['licenses'], summary: 'Licenses and their credits (one credit per migrated host)', response: { 200: LicenseListReply, ...ErrorResponses } } }, async () => ({
    licenses: {
      data: engine.licenses.list().map((l) => ({ id: l.id, name: l.name, total: l.total, used: l.used, expires_at: formatTimestamp(l.expiresAt), valid: engine.licenses.isValid(l.id) })),
    },
  }));
}
