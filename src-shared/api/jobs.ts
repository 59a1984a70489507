/** Seed 000 §4.8.4: the jobs list. */
import { Type } from '@sinclair/typebox';
import { JOB_TYPES } from '../states.js';
import { PageQuery, paged } from './common.js';

export const JobQuery = Type.Object(
  {
    status: Type.Optional(Type.Union(['all', 'working', 'complete', 'done', 'failed'].map((s) => Type.Literal(s)))),
    ...PageQuery,
    owner: Type.Optional(Type.String({ minLength: 1, maxLength: 256, description: 'Host name the job belongs to' })),
    job_type: Type.Optional(Type.Union(JOB_TYPES.map((t) => Type.Literal(t)))),
    id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, description: 'Host uuid' })),
  },
  { additionalProperties: false },
);

export const JobStepItem = Type.Object({
  name: Type.String(),
  status: Type.String(),
  start_at: Type.Union([Type.String(), Type.Null()]),
  end_at: Type.Union([Type.String(), Type.Null()]),
  detail: Type.Union([Type.String(), Type.Null()]),
});

export const JobItem = Type.Object({
  description: Type.String(),
  detail: Type.String(),
  detail_data: Type.String(),
  detail_icon: Type.String(),
  end_at: Type.Union([Type.String(), Type.Null()]),
  event_id: Type.String(),
  h_status: Type.String(),
  host: Type.String(),
  job_status: Type.String(),
  job_type: Type.String(),
  source_id: Type.Union([Type.String(), Type.Null()]),
  source_type: Type.String(),
  start_at: Type.String(),
  task_id: Type.String(),
  updated_at: Type.String(),
  failed_step: Type.Union([Type.String(), Type.Null()]),
  failure_reason: Type.Union([Type.String(), Type.Null()]),
  steps: Type.Array(JobStepItem),
});

export const JobListReply = paged(JobItem);
