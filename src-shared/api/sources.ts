/** Source platforms (extension implied by seed 000 §3.1 "Sources"): VMware, Agent, Image. */
import { Type, type Static, type TObject } from '@sinclair/typebox';
import { SOURCE_TYPES, SOURCE_STATUSES, type SourceType } from '../states.js';

const str = (description: string) => Type.String({ minLength: 1, maxLength: 1024, description });
/** Periodic inventory refresh in minutes; 0 turns it off. */
const refreshEvery = (minutes: number) =>
  Type.Optional(Type.Number({ minimum: 0, maximum: 10_080, default: minutes, description: 'Refresh the inventory every N minutes (0: only on demand; checked every 15 s)' }));

export const SourceConfigSchemas: Record<SourceType, TObject> = {
  VMware: Type.Object(
    {
      host: str('vCenter or ESXi address'),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 443 })),
      username: str('User name'),
      password: str('Password (kept in the OS keychain)'),
      thumbprint: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f:]{64,95}$', description: 'Expected SHA-256 certificate thumbprint' })),
      refresh_interval_minutes: refreshEvery(30),
    },
    { additionalProperties: false },
  ),
  Agent: Type.Object(
    {
      address: str('SSH address'),
      port: Type.Optional(Type.Integer({ minimum: 1, maximum: 65535, default: 22 })),
      username: str('SSH user'),
      password: Type.Optional(str('SSH password (kept in the OS keychain)')),
      private_key: Type.Optional(Type.String({ minLength: 1, maxLength: 65536, description: 'SSH private key (kept in the OS keychain)' })),
      passphrase: Type.Optional(str('Private key passphrase')),
      sudo: Type.Optional(Type.Boolean()),
      host_key: Type.Optional(Type.String({ pattern: '^SHA256:', description: 'Expected SSH host key fingerprint' })),
      disks: Type.Optional(Type.Array(Type.String({ pattern: '^/dev/', maxLength: 256 }), { maxItems: 64 })),
      transport: Type.Optional(
        Type.Union([Type.Literal('relay'), Type.Literal('direct')], {
          default: 'relay',
          description: 'Extension. How disk data travels: relay (over the SSH connection the engine holds) or direct (the agent connects to the engine over TLS 1.3 with per-job certificates pinned on both sides)',
        }),
      ),
      direct_listener: Type.Optional(
        Type.Union([Type.Literal('engine'), Type.Literal('agent')], {
          description: 'Extension. Which end listens for the direct transport: agent (the source agent listens) or engine (the other end listens: the engine, or the sink agent on a KVM host or gateway). Unset: the engine dials the agent (as it dials SSH; it then reads into one reused buffer) and the source agent dials a sink agent',
        }),
      ),
      direct_address: Type.Optional(
        Type.String({ minLength: 1, maxLength: 255, pattern: '^[0-9A-Za-z.:%-]+$', description: 'Extension. Address the dialing end connects to for the direct transport: the engine address (listener engine) or the host address (listener agent); default: that end of the SSH connection' }),
      ),
      refresh_interval_minutes: refreshEvery(0),
    },
    { additionalProperties: false },
  ),
  Image: Type.Object(
    {
      path: Type.String({ minLength: 2, maxLength: 4096, pattern: '^(/|[A-Za-z]:[\\\\/])', description: 'Absolute path of a folder or file of disk images (raw, qcow2, vmdk)' }),
      refresh_interval_minutes: refreshEvery(0),
    },
    { additionalProperties: false },
  ),
};

export const SOURCE_SECRET_FIELDS: Record<SourceType, readonly string[]> = {
  VMware: ['password'],
  Agent: ['password', 'private_key', 'passphrase'],
  Image: [],
};

export const CreateSourceBody = Type.Object(
  {
    type: Type.Union(SOURCE_TYPES.map((t) => Type.Literal(t))),
    name: Type.String({ minLength: 1, maxLength: 128 }),
    config: Type.Object({}, { additionalProperties: true }),
  },
  { additionalProperties: false },
);
export type CreateSourceBody = Static<typeof CreateSourceBody>;

const loose = Type.Object({}, { additionalProperties: true });

/**
 * PUT /sources/:id: accept a new identity for the source's host (after a reinstall or a key
 * change): `host_key` for Agent sources, `thumbprint` for VMware. The source is refreshed with it.
 */
export const UpdateSourceBody = Type.Object(
  {
    config: Type.Object(
      {
        host_key: Type.Optional(Type.String({ pattern: '^SHA256:[A-Za-z0-9+/]{43}$', description: 'Agent: the SSH host key fingerprint to pin (as the refusal names it)' })),
        thumbprint: Type.Optional(Type.String({ pattern: '^[0-9A-Fa-f:]{64,95}$', description: 'VMware: the SHA-256 certificate thumbprint to pin' })),
      },
      { additionalProperties: false, minProperties: 1, maxProperties: 1 },
    ),
  },
  { additionalProperties: false },
);
export type UpdateSourceBody = Static<typeof UpdateSourceBody>;

export const SourceItem = Type.Object({
  id: Type.String(),
  type: Type.String(),
  name: Type.String(),
  status: Type.Union(SOURCE_STATUSES.map((s) => Type.Literal(s))),
  status_reason: Type.Union([Type.String(), Type.Null()]),
  pinned_identity: Type.Union([Type.String(), Type.Null()], { description: 'SSH host key or TLS thumbprint pinned on first use' }),
  config: loose,
  host_count: Type.Integer(),
  created_at: Type.String(),
  refreshed_at: Type.Union([Type.String(), Type.Null()]),
});

export const SourceListReply = Type.Object({ sources: Type.Object({ data: Type.Array(SourceItem) }) });
export const SourceDetailReply = Type.Object({ source: SourceItem, tree: Type.Unknown(), hosts: Type.Array(loose) });
export const SourceHostsReply = Type.Object({ total: Type.Integer(), data: Type.Array(loose) });
export const CreateSourceReply = Type.Object({ code: Type.Integer(), message: Type.String(), data: Type.Object({ id: Type.String(), job_id: Type.String() }) });
