/**
 * Static types of the wire schemas in `src-shared/api` (TypeBox): the renderer imports only
 * types from there, so no schema code reaches the bundle.
 */
import type { Static } from '@sinclair/typebox';
import type { Ack as AckSchema } from '../../../src-shared/api/common.js';
import type {
  DetailData as DetailDataSchema,
  HostItem as HostItemSchema,
  HostListQuery as HostListQuerySchema,
  HostListReply as HostListReplySchema,
  HostsActionBody as HostsActionBodySchema,
} from '../../../src-shared/api/hosts.js';
import type { JobItem as JobItemSchema, JobListReply as JobListReplySchema, JobQuery as JobQuerySchema, JobStepItem as JobStepSchema } from '../../../src-shared/api/jobs.js';
import type { CreateSourceBody as CreateSourceBodySchema, CreateSourceReply as CreateSourceReplySchema, SourceItem as SourceItemSchema, SourceListReply as SourceListReplySchema } from '../../../src-shared/api/sources.js';
import type { CreateTargetBody as CreateTargetBodySchema, TargetListItem as TargetListItemSchema, TargetListReply as TargetListReplySchema } from '../../../src-shared/api/targets.js';
import type { ChangePasswordBody as ChangePasswordBodySchema, ChangePasswordReply as ChangePasswordReplySchema, LoginBody as LoginBodySchema, LoginReply as LoginReplySchema } from '../../../src-shared/api/users.js';

export type Ack = Static<typeof AckSchema>;

export type LoginBody = Static<typeof LoginBodySchema>;
export type LoginReply = Static<typeof LoginReplySchema>;
export type ChangePasswordBody = Static<typeof ChangePasswordBodySchema>;
export type ChangePasswordReply = Static<typeof ChangePasswordReplySchema>;

export type SourceItem = Static<typeof SourceItemSchema>;
export type SourceListReply = Static<typeof SourceListReplySchema>;
export type CreateSourceBody = Static<typeof CreateSourceBodySchema>;
export type CreateSourceReply = Static<typeof CreateSourceReplySchema>;

export type TargetItem = Static<typeof TargetListItemSchema>;
export type TargetListReply = Static<typeof TargetListReplySchema>;
export type CreateTargetBody = Static<typeof CreateTargetBodySchema>;

export type HostItem = Static<typeof HostItemSchema>;
export type DetailData = Static<typeof DetailDataSchema>;
export type HostListQuery = Static<typeof HostListQuerySchema>;
export type HostListReply = Static<typeof HostListReplySchema>;
export type HostsActionBody = Static<typeof HostsActionBodySchema>;

export type JobItem = Static<typeof JobItemSchema>;
export type JobStep = Static<typeof JobStepSchema>;
export type JobQuery = Static<typeof JobQuerySchema>;
export type JobListReply = Static<typeof JobListReplySchema>;
