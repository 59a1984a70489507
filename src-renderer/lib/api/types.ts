/**
 * Static types of the wire schemas in `src-shared/api` (TypeBox): the renderer imports only
 * types from there, so no schema code reaches the bundle.
 */
import type { Static } from '@sinclair/typebox';
import type { Ack as AckSchema } from '../../../src-shared/api/common.js';
import type {
  AssignBody as AssignBodySchema,
  BootBody as BootBodySchema,
  HostBaseReply as HostBaseReplySchema,
  HostSnapshotReply as HostSnapshotReplySchema,
  HostStorageReply as HostStorageReplySchema,
  RegisterBody as RegisterBodySchema,
  SyncParams as SyncParamsSchema,
  SyncStrategyBody as SyncStrategyBodySchema,
  SyncStrategyItem as SyncStrategyItemSchema,
  DetailData as DetailDataSchema,
  HostItem as HostItemSchema,
  HostListQuery as HostListQuerySchema,
  HostListReply as HostListReplySchema,
  HostsActionBody as HostsActionBodySchema,
} from '../../../src-shared/api/hosts.js';
import type { JobItem as JobItemSchema, JobListReply as JobListReplySchema, JobQuery as JobQuerySchema, JobStepItem as JobStepSchema } from '../../../src-shared/api/jobs.js';
import type {
  CreateSourceBody as CreateSourceBodySchema,
  CreateSourceReply as CreateSourceReplySchema,
  SourceDetailReply as SourceDetailReplySchema,
  SourceHostsReply as SourceHostsReplySchema,
  SourceItem as SourceItemSchema,
  SourceListReply as SourceListReplySchema,
} from '../../../src-shared/api/sources.js';
import type {
  CreateTargetBody as CreateTargetBodySchema,
  ResourceReply as ResourceReplySchema,
  StorageItem as StorageItemSchema,
  TargetDetailReply as TargetDetailReplySchema,
  TargetListItem as TargetListItemSchema,
  TargetListReply as TargetListReplySchema,
} from '../../../src-shared/api/targets.js';
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

export type SourceDetailReply = Static<typeof SourceDetailReplySchema>;
export type SourceHostsReply = Static<typeof SourceHostsReplySchema>;
export type StorageItem = Static<typeof StorageItemSchema>;
export type TargetDetailReply = Static<typeof TargetDetailReplySchema>;
export type ResourceReply = Static<typeof ResourceReplySchema>;

export type RegisterBody = Static<typeof RegisterBodySchema>;
export type AssignBody = Static<typeof AssignBodySchema>;
export type SyncParams = Static<typeof SyncParamsSchema>;
export type SyncStrategyBody = Static<typeof SyncStrategyBodySchema>;
export type SyncStrategy = Static<typeof SyncStrategyItemSchema>;
export type BootBody = Static<typeof BootBodySchema>;
export type BootParams = BootBody['boot'];
export type HostBaseReply = Static<typeof HostBaseReplySchema>;
export type HostStorageReply = Static<typeof HostStorageReplySchema>;
export type HostSnapshotReply = Static<typeof HostSnapshotReplySchema>;
export type HostSheet = 'base' | 'storage' | 'snapshot';
